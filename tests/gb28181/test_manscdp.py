"""MANSCDP bodies as devices send them: GB2312 or UTF-8, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gridwatch.gb28181 import manscdp
from gridwatch.gb28181.manscdp import ManscdpError

ITEM = (
    "<Response><CmdType>Catalog</CmdType><SN>7</SN><DeviceID>34020000001320000001</DeviceID>"
    "<SumNum>1</SumNum><DeviceList Num='1'><Item><DeviceID>34020000001310000009</DeviceID>"
    "<Name>{name}</Name><Longitude>0.0</Longitude><Latitude>{lat}</Latitude></Item>"
    "</DeviceList></Response>"
)


@pytest.mark.parametrize("encoding", ["GB2312", "UTF-8", "gbk"])
def test_catalog_in_each_encoding(encoding: str) -> None:
    body = f'<?xml version="1.0" encoding="{encoding}"?>' + ITEM.format(name="北门", lat="30.1")
    root = manscdp.decode(body.encode(encoding))
    total, channels, _ = manscdp.catalog_items(root, "34020000001320000001")
    assert total == 1 and channels[0].name == "北门"
    assert channels[0].longitude is None and channels[0].latitude == 30.1  # 0.0 means unset


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<Notify><CmdType>Keepalive", "XML"),
        ('<?xml version="1.0" encoding="UTF-8"?><a>北</a>'.encode("gb2312"), "not utf-8"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Notify>&a;</Notify>', "XML"),
        (ITEM.format(name="x", lat="north").encode(), "Latitude"),
        (
            ITEM.format(name="x", lat="1").replace("34020000001310000009", "123").encode(),
            "DeviceID",
        ),
    ],
)
def test_unreadable_bodies_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(ManscdpError, match=reason):
        root = manscdp.decode(body)
        manscdp.catalog_items(root, "34020000001320000001")


def test_a_lower_platforms_areas_count_but_are_not_channels() -> None:
    body = (
        ITEM.format(name="x", lat="1")
        .replace("<SumNum>1", "<SumNum>2")
        .replace(
            "</DeviceList>",
            "<Item><DeviceID>340200</DeviceID><Name>Area</Name></Item></DeviceList>",
        )
    )
    total, channels, directories = manscdp.catalog_items(manscdp.decode(body.encode()), "1")
    assert (total, [c.channel_id for c in channels], directories) == (
        2, ["34020000001310000009"], ["340200"])  # fmt: skip


def item(device_id: str, name: str, parental: int = 0) -> str:
    return (f"<Item><DeviceID>{device_id}</DeviceID><Name>{name}</Name>"
            f"<Parental>{parental}</Parental><Status>ON</Status></Item>")  # fmt: skip


def test_a_lower_platforms_groups_devices_and_io_are_counted_not_candidates() -> None:
    """What a lower platform (or an NVR) lists besides its cameras: business groups (215),
    virtual organisations (216), the NVR above its cameras (118, Parental 1), alarm and audio
    inputs and outputs (134 to 137), a platform (200). Counted toward SumNum, never adoptable."""
    others = [
        ("34020000002150000001", "业务分组", 1), ("34020000002160000001", "东区", 1),
        ("34020000001180000001", "东门录像机", 1), ("34020000001340000001", "门磁", 0),
        ("34020000001350000001", "声光报警", 0), ("34020000001360000001", "拾音器", 0),
        ("34020000002000000002", "下级平台", 1),
    ]  # fmt: skip
    cameras = [("34020000001310000001", "东门", 0), ("34020000001320000002", "西门", 0),
               ("34020000001320000003", "球机", 1)]  # fmt: skip
    body = (
        '<?xml version="1.0" encoding="GB2312"?><Response><CmdType>Catalog</CmdType><SN>1</SN>'
        f"<DeviceID>34020000002000000009</DeviceID><SumNum>{len(others) + len(cameras)}</SumNum>"
        f'<DeviceList Num="{len(others) + len(cameras)}">'
        + "".join(item(*entry) for entry in others + cameras)
        + "</DeviceList></Response>"
    ).encode("gb2312")
    total, channels, counted = manscdp.catalog_items(manscdp.decode(body), "34020000002000000009")
    assert total == len(others) + len(cameras)
    # A camera with children of its own (a dome's presets, a fisheye's views) is still one.
    assert [(c.channel_id, c.name) for c in channels] == [(i, n) for i, n, _ in cameras]
    assert counted == [i for i, _, _ in others]


ALARM = (
    '<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Alarm</CmdType><SN>3</SN>'
    "<DeviceID>34020000001310000001</DeviceID><AlarmPriority>{priority}</AlarmPriority>"
    "<AlarmMethod>2</AlarmMethod><AlarmTime>{time}</AlarmTime>"
    "<AlarmDescription>视频丢失</AlarmDescription><Longitude>0</Longitude><Latitude>0</Latitude>"
    "<Info><AlarmType>1</AlarmType></Info></Notify>"
)


def test_alarm_in_gb2312_with_local_time_and_unset_position() -> None:
    body = ALARM.format(priority=2, time="2026-11-29T20:30:00").encode("gb2312")
    alarm = manscdp.alarm(manscdp.decode(body), "34020000001320000001", ZoneInfo("Asia/Shanghai"))
    assert alarm.time == datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
    assert (alarm.channel_id, alarm.method, alarm.alarm_type, alarm.description) == (
        "34020000001310000001", 2, 1, "视频丢失")  # fmt: skip
    assert alarm.longitude is None and alarm.latitude is None  # 0, 0: not set
    assert (alarm.rule_kind(), alarm.category(), alarm.severity()) == (
        "video_loss", "device_fault", "high")  # fmt: skip


@pytest.mark.parametrize(
    ("priority", "time", "reason"),
    [(5, "2026-11-29T20:30:00", "priority"), ("x", "2026-11-29T20:30:00", "AlarmPriority"),
     (1, "yesterday", "AlarmTime"), (1, "", "AlarmTime")],
)  # fmt: skip
def test_bad_alarms_say_which_field(priority: object, time: str, reason: str) -> None:
    body = ALARM.format(priority=priority, time=time).encode("gb2312")
    with pytest.raises(ManscdpError, match=reason):
        manscdp.alarm(manscdp.decode(body), "34020000001320000001", UTC)


def test_device_info_and_a_refused_query() -> None:
    body = (
        "<Response><CmdType>DeviceInfo</CmdType><SN>4</SN><DeviceID>34020000001320000001"
        "</DeviceID><Result>OK</Result><Manufacturer>Dahua</Manufacturer><Model>NVR4208</Model>"
        "<Firmware>V4.0</Firmware><Channel>8</Channel></Response>"
    )
    info = manscdp.device_info(manscdp.decode(body.encode()))
    assert (info.manufacturer, info.model, info.firmware, info.channel_count) == (
        "Dahua", "NVR4208", "V4.0", 8)  # fmt: skip
    with pytest.raises(ManscdpError, match="Result"):
        manscdp.device_info(manscdp.decode(body.replace(">OK<", ">ERROR<").encode()))
    with pytest.raises(ManscdpError, match="model: String should have at most 100"):
        manscdp.device_info(manscdp.decode(body.replace("NVR4208", "N" * 101).encode()))


def test_alarm_response_and_reset_bodies_parse_back() -> None:
    response = manscdp.decode(manscdp.alarm_response(9, "34020000001310000001"))
    assert (response.tag, manscdp.text_of(response, "Result")) == ("Response", "OK")
    reset = manscdp.decode(manscdp.alarm_reset(10, "34020000001310000001", 5, 6))
    assert manscdp.text_of(reset, "AlarmCmd") == "ResetAlarm"
    assert manscdp.text_of(reset, "Info/AlarmType") == "6"
