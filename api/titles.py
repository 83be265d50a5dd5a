"""System-written titles and descriptions of grid events raised by cameras, in the reader's
language: Chinese by default (the district's staff read Chinese), English on request
(`Accept-Language: en`).

They are built when the event is shown, from what the event is (its taxonomy event code's name,
else its rule kind's label), where (camera name and zone) and what was seen, so one event reads
right in either language; the stored title is the default language's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.models import Incident
from api.taxonomy import EventType
from contract.rules import RULE_CONFIGS

Language = Literal["zh", "en"]
DEFAULT_LANGUAGE: Language = "zh"

# Objects the district's cameras report most; another class keeps its COCO name.
_OBJECTS_ZH = {
    "person": "人员", "bicycle": "自行车", "car": "汽车", "motorcycle": "摩托车", "bus": "公交车",
    "truck": "货车", "fire": "明火", "smoke": "烟雾", "fall": "跌倒人员",
}  # fmt: skip
# Rules that are not rule kinds of a camera file.
_OTHER_RULES = {
    "custom_model": ("模型告警", "Model alarm"),
    "camera_tamper": ("摄像机防拆告警", "Camera tamper alarm"),
    "gb28181_alarm": ("国标设备报警", "GB/T 28181 device alarm"),
}


def reader_language(accept_language: str | None) -> Language:
    """The language to write for a reader, from an `Accept-Language` header; Chinese when the
    header is absent or asks for neither. The highest quality wins, then the earliest tag.

    Example:
        >>> reader_language("en-GB,zh;q=0.5"), reader_language("zh-CN,en;q=0.8")
        ('en', 'zh')
        >>> reader_language("fr"), reader_language(None)
        ('zh', 'zh')
    """
    wanted: list[tuple[float, int, Language]] = []
    for order, part in enumerate((accept_language or "").split(",")):
        tag, _, parameter = part.partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = 1.0
        if parameter.strip().startswith("q="):
            try:
                quality = float(parameter.strip()[2:])
            except ValueError:
                continue
        if quality > 0 and primary in ("zh", "en"):
            wanted.append((quality, -order, "zh" if primary == "zh" else "en"))
    return max(wanted)[2] if wanted else DEFAULT_LANGUAGE


def _what(event_type: EventType | None, rule: str, language: Language) -> str:
    if event_type is not None:
        return event_type.name_zh if language == "zh" else event_type.name_en
    config = RULE_CONFIGS.get(rule)
    if config is not None:
        return config.label_zh if language == "zh" else config.label_en
    zh, en = _OTHER_RULES.get(rule, (rule, rule))
    return zh if language == "zh" else en


def incident_title(
    incident: Incident, event_type: EventType | None, camera_name: str, language: Language
) -> str:
    """E.g. "区域入侵 — 第一小学正门 · path", "Intrusion — School gate, zone path"."""
    what = _what(event_type, incident.rule, language)
    if language == "zh":
        return f"{what} — {camera_name} · {incident.zone}"
    return f"{what} — {camera_name}, zone {incident.zone}"


def incident_description(
    incident: Incident, event_type: EventType | None, camera_name: str, language: Language
) -> str:
    """What was seen where, with the rule's confidence and the tracked object's number."""
    what = _what(event_type, incident.rule, language)
    if language == "zh":
        seen = _OBJECTS_ZH.get(incident.object_class, incident.object_class)
        return (
            f"摄像头「{camera_name}」的「{incident.zone}」区域：{what}，检测到{seen}"
            f"（置信度 {incident.confidence:.0%}，目标 #{incident.track_id}）。"
        )
    return (
        f"{what} in zone {incident.zone} of camera {camera_name}: {incident.object_class}"
        f" detected (confidence {incident.confidence:.0%}, track #{incident.track_id})."
    )


# Why a camera is not online (contract.health.HealthReason, and the API's own reasons), for
# the video-loss events the system writes.
_CAMERA_REASONS = {
    "unreachable": ("无法连接摄像头（主机不可达、端口未开放或无应答）", "it cannot be reached"),
    "auth_failed": ("摄像头拒绝了用户名或密码", "the camera refused the user name or password"),
    "not_a_stream": ("该地址返回的不是视频流", "its address answers with no video"),
    "stream_lost": ("视频流中断", "the stream broke off"),
    "no_frames": ("没有收到画面", "no picture arrives"),
    "frames_stale": ("画面长时间未更新", "the picture is not refreshed"),
    "frames_slow": ("画面帧率过低", "too few pictures a second"),
    "decoder_error": ("画面无法解码", "the pictures cannot be decoded"),
    "source_invalid": ("视频地址或配置有误", "the address or configuration is wrong"),
    "recording_ended": ("录像已播放完毕", "the recording played to its end"),
    "stopped": ("检测进程已停止接入", "the worker stopped watching it"),
    "capture_failed": ("检测进程接入出错", "the worker's capture failed"),
    "worker_silent": ("检测进程停止上报", "its worker stopped reporting"),
    "device_offline": ("国标设备离线（无心跳）", "its GB/T 28181 device is offline"),
}  # fmt: skip


def camera_reason(code: str | None, language: Language) -> str:
    """Why a camera is not online, in words, from its code (an unknown code: no picture)."""
    zh, en = _CAMERA_REASONS.get(code or "", _CAMERA_REASONS["no_frames"])
    return zh if language == "zh" else en


def video_loss_title(camera_name: str, language: Language) -> str:
    """E.g. "视频中断 — 第一小学正门", "Video loss — School gate"."""
    return f"视频中断 — {camera_name}" if language == "zh" else f"Video loss — {camera_name}"


def video_loss_description(
    camera_name: str,
    since: datetime,
    zone: str,
    reason: str | None,
    detail: str | None,
    language: Language,
) -> str:
    """Since when (in the camera's time zone, which it names) and why; the worker's own words
    only as the detail."""
    try:
        local = since.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local, zone = since.astimezone(UTC), "UTC"
    when = f"{local:%Y-%m-%d %H:%M:%S} ({zone})"
    why = camera_reason(reason, language)
    if language == "zh":
        extra = f"。详情：{detail}" if detail else ""
        return f"摄像头「{camera_name}」自 {when} 起无画面：{why}{extra}。"
    extra = f". Detail: {detail}" if detail else ""
    return f"Camera {camera_name} has had no picture since {when}: {why}{extra}."
