"""Builders for NMEA 0183 test lines, with checksums computed rather than typed by hand."""

from __future__ import annotations

import functools
import operator


def checksum(body: str) -> int:
    """XOR of the characters between ``$`` and ``*``."""
    return functools.reduce(operator.xor, map(ord, body), 0)


def sentence(body: str) -> str:
    """``body`` (without ``$``) as a full sentence with its correct ``*HH`` checksum."""
    return f"${body}*{checksum(body):02X}"


def rmc(
    time: str = "123519",
    date: str = "230394",
    *,
    status: str = "A",
    lat: str = "4807.038",
    ns: str = "N",
    lon: str = "01131.000",
    ew: str = "E",
    knots: str = "022.4",
    course: str = "084.4",
    talker: str = "GP",
) -> str:
    """An RMC sentence; defaults are the classic example (1994-03-23 12:35:19, 48N 11E)."""
    return sentence(f"{talker}RMC,{time},{status},{lat},{ns},{lon},{ew},{knots},{course},{date},003.1,W")


def gga(
    time: str = "123519",
    *,
    lat: str = "4807.038",
    ns: str = "N",
    lon: str = "01131.000",
    ew: str = "E",
    quality: str = "1",
    satellites: str = "08",
    hdop: str = "0.9",
    alt: str = "545.4",
    talker: str = "GP",
) -> str:
    """A GGA sentence; defaults match ``rmc()``'s position and time."""
    return sentence(
        f"{talker}GGA,{time},{lat},{ns},{lon},{ew},{quality},{satellites},{hdop},{alt},M,46.9,M,,"
    )


def zda(time: str, day: int, month: int, year: int, talker: str = "GP") -> str:
    """A ZDA sentence (date and time, zone 00:00)."""
    return sentence(f"{talker}ZDA,{time},{day:02d},{month:02d},{year:04d},00,00")


def with_wrong_checksum(line: str) -> str:
    """The same sentence with its checksum changed to a wrong one."""
    body, _, found = line[1:].partition("*")
    return f"${body}*{(int(found, 16) ^ 0x01):02X}"
