"""MANSCDP bodies as devices send them: GB2312 or UTF-8, and what is refused."""

from __future__ import annotations

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
