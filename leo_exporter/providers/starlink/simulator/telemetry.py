"""Starlink V2 telemetry stream rows, generated on demand from (seed, account, tick, device).

Rows are never stored. A tick `k` happens at `t0 + k * row_interval`; its rows are laid out as
one `u` row per online terminal, one `r` row per router of an online terminal, then one `i` row
per online terminal whose 5-minute phase falls on this tick. A client's cursor is (tick, offset
into that layout), so serving 65,000 rows costs only generating those rows.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from leo_exporter.providers.starlink.simulator.fleet import Account, Router, Terminal, cell_of
from leo_exporter.simulator.hashing import GOLDEN, MASK64, hash_str, key, mix, unit

RETENTION_S = 8 * 3600
IP_PERIOD_S = 300.0
FUTURE_EVERY = 5  # every 5th response of a client carries an unknown extra `u` column
FUTURE_COLUMN = "SimFutureMetric"

UT_ALERTS: dict[int, str] = {
    50: "ethernet_slow_10mbps",
    51: "ethernet_slow_100mbps",
    52: "power_supply_thermal_throttling",
    53: "actuator_motor_stuck",
    54: "mast_not_vertical",
    55: "disabled_no_active_service_line",
    56: "disabled_too_far_from_service_address",
    57: "disabled_no_service_in_ocean",
    60: "disabled_moving_too_fast",
    61: "power_disconnect_detected",
    62: "pop_change",
    63: "unable_to_align",
    66: "high_time_obstruction",
    80: "thermal_shutdown",
    81: "thermal_throttling",
    82: "software_update_reboot_pending",
    83: "disabled_blocked_country",
    84: "disabled_data_usage_exceeded_quota",
    89: "disabled_cell_is_disabled",
    93: "disabled_roam_restricted",
    94: "disabled_unknown_location",
    95: "disabled_account_disabled",
    96: "disabled_unsupported_version",
    97: "data_overage_rate_limited",
}
ROUTER_ALERTS: dict[int, str] = {52: "sandbox_disabled", 54: "geo_fenced", 55: "offline_networks_disabled"}
ENUMS: dict[str, Any] = {
    "DeviceType": {"u": "UserTerminal", "r": "Router", "d": "UserTerminalDataUsage", "i": "IpAllocs"},
    "AlertsByDeviceType": {
        "u": {str(code): name for code, name in UT_ALERTS.items()},
        "r": {str(code): name for code, name in ROUTER_ALERTS.items()},
    },
}

U_BASE = (
    "DeviceType", "UtcTimestampNs", "DeviceId", "DownlinkThroughput", "UplinkThroughput", "PingDropRateAvg",
    "PingLatencyMsAvg", "ObstructionPercentTime", "Uptime", "SignalQuality", "H3CellId",
    "SecondsUntilSwupdateRebootPossible", "RunningSoftwareVersion", "CountryCode", "InTerritorialWaters",
)  # fmt: skip
_BANDS = [
    f"Clients{band}{what}{stat}"
    for band, what in (("2Ghz", "RxRateMbps"), ("2Ghz", "TxRateMbps"), ("5Ghz", "RxRateMbps"), ("5Ghz", "TxRateMbps"))
    for stat in ("Min", "Max", "Avg")
] + [f"Clients{band}SignalStrength{stat}" for band in ("2Ghz", "5Ghz") for stat in ("Min", "Max", "Avg")]
R_BASE = (
    "DeviceType", "UtcTimestampNs", "DeviceId", "WifiUptimeS", "WifiSoftwareVersion", "WifiHardwareVersion",
    "WifiIsRepeater", "WifiHopsFromController", "WifiIsBypassed", "InternetPingDropRate", "InternetPingLatencyMs",
    "WifiPopPingDropRate", "WifiPopPingLatencyMs", "DishPingDropRate", "DishPingLatencyMs", "Clients",
    "Clients2Ghz", "Clients5Ghz", "ClientsEth", "WanRxBytes", "WanTxBytes", *_BANDS, "DishId",
)  # fmt: skip
I_COLUMNS = ("DeviceType", "UtcTimestampNs", "DeviceId", "Ipv4", "Ipv6Ue", "Ipv6Cpe", "AccountNumber")

Row = tuple[Any, ...]
_INV16 = 1.0 / 65536.0
_NULL6: tuple[float | None, ...] = (None,) * 6
_NULL3: tuple[float | None, ...] = (None,) * 3


BOOT_S = 20  # seconds a device has been up in its first row after a reboot


@dataclass(slots=True)
class Cursor:
    """A client's read position: the next row is `offset` into tick `tick`'s layout."""

    tick: int = 0
    offset: int = 0
    responses: int = 0


@dataclass(frozen=True, slots=True)
class Layout:
    """Which devices emit a row in a tick (indices into the model's static tables)."""

    u: list[int]
    r: list[int]
    i: list[int]

    @property
    def total(self) -> int:
        return len(self.u) + len(self.r) + len(self.i)


class AccountStream:
    """Row generator and per-tick layout for one account; cursors live with the caller."""

    def __init__(self, account: Account, seed: int, t0: float, row_interval: float) -> None:
        self.account = account
        self.seed = seed
        self.t0_ns = int(t0 * 1e9)
        self.interval = row_interval
        self.interval_ns = int(row_interval * 1e9)
        self.ip_period = max(1, round(IP_PERIOD_S / row_interval))
        self.retention_ticks = max(1, math.ceil(RETENTION_S / row_interval))
        self.forced_alerts: dict[int, tuple[int, ...]] = {}
        # Reboots (POST .../reboot): device index -> the tick it is back, its uptime counted from there.
        self.reboots: dict[int, int] = {}
        self.router_reboots: dict[int, int] = {}
        # History of offline sets: (first tick it applies to, set); rows of a tick use the set then.
        self._epochs: list[tuple[int, frozenset[int]]] = [(0, account.base_offline)]
        self._layouts: dict[tuple[int, int, int], Layout] = {}
        # Churn (see churn.py): tick -> (churn epoch, terminals not in the inventory then).
        self.absent_at: Callable[[int], tuple[int, frozenset[int]]] | None = None
        self._u = [self._u_static(t) for t in account.terminals]
        self._r = [self._r_static(ti, r) for ti, r in account.routers]
        self._r_owner = [ti for ti, _ in account.routers]
        self._ip = [self._ip_static(t) for t in account.terminals]

    # ---- static per-device parameters -------------------------------------------------------------

    def _u_static(self, t: Terminal) -> tuple[Any, ...]:
        h = key(self.seed, self.account.index, 1000, t.index)
        codes = {c for c, _, _ in t.alert_profile}
        slow = unit(h, 40) < 0.06  # a few terminals sit behind congested beams or long backhaul
        few = ((h >> 56) & 0xFF) / 256.0 < 0.04  # the top byte: unit() would read past bit 63 here
        obst = 1.8 + 2.0 * unit(h, 48) if (66 in codes or few) else 0.4 * unit(h, 48) ** 2
        move = None
        if t.moving:
            lo, hi = t.region.lon
            speed = (1.0 + 3.0 * unit(h, 8)) * 1e-5 * (1 if h & 1 else -1)  # deg/s, 4-15 knots
            move = (t.lat, lo, hi - lo, t.lon - lo, speed)
        return (
            t.device_id,
            h,
            self._offset(h),
            20.0 + 140.0 * unit(h, 0),  # downlink base Mbps (x <= 1.2 drift stays below 200)
            2.0 + 22.0 * unit(h, 16),  # uplink base Mbps
            (105.0 + 60.0 * unit(h, 24)) if slow else (24.0 + 22.0 * unit(h, 24)),  # latency base ms
            obst,
            600 + (h >> 30) % (40 * 86400),  # uptime at t0
            0.72 + 0.25 * unit(h, 32),  # signal quality base
            6.283 * unit(h, 36),  # drift phase
            t.cell,
            move,
            -1 if (h >> 50) % 4 == 0 else 259200,
            t.software_version,
            t.region.country,
            t.region.territorial,
            t.alert_profile,
            t.index,
        )

    def _r_static(self, terminal_index: int, r: Router) -> tuple[Any, ...]:
        h = key(self.seed, self.account.index, 2000, terminal_index)
        return (
            r.router_id,
            h,
            self._offset(h),
            r.software_version,
            r.hardware_version,
            unit(h, 8) < 0.05,  # bypassed: customer's own router behind it
            300 + (h >> 30) % (20 * 86400),
            6e9 + 9e10 * unit(h, 16),  # WanRxBytes at t0
            2e9 + 3e10 * unit(h, 24),
            2e4 + 2.5e6 * unit(h, 32),  # rx bytes/s
            5e3 + 4e5 * unit(h, 40),
            int(1 + 8 * unit(h, 48)),  # 2.4 GHz clients base
            int(1 + 16 * ((h >> 56) & 0xFF) / 256.0),  # 5 GHz clients base (the top byte)
            6.283 * unit(h, 4),
            "ut" + r.terminal_id,
            r.alert_profile,
        )

    def _ip_static(self, t: Terminal) -> tuple[Any, ...]:
        h = key(self.seed, self.account.index, 3000, t.index)
        line = self.account.service_lines[t.index]
        v4 = [f"129.222.{(h >> 8) & 255}.{1 + (h >> 16) % 254}"] if line.public_ip else []
        ue = f"2605:59c0:{(h >> 24) & 0xFFFF:x}:{(h >> 40) & 0xFFFF:x}::/64"
        cpe = f"2605:59c0:{(h >> 8) & 0xFFFF:x}:{(h >> 48) & 0xFF00:x}::/56"
        return ("ip-" + t.device_id, self._offset(h), v4, [ue], [cpe], h % self.ip_period)

    def _offset(self, h: int) -> int:
        """Per-device lag of its timestamp behind the tick (never puts a row in the future)."""
        return (h >> 20) % max(1, min(1_500_000_000, self.interval_ns // 2))

    # ---- offline history and layouts --------------------------------------------------------------

    def set_offline(self, offline: frozenset[int], from_tick: int) -> None:
        """Apply a new offline set from `from_tick` on; ticks already produced keep their rows."""
        if offline == self._epochs[-1][1]:
            return
        if self._epochs[-1][0] >= from_tick:
            self._epochs[-1] = (self._epochs[-1][0], offline)
            self._layouts = {k: v for k, v in self._layouts.items() if k[0] != len(self._epochs) - 1}
        else:
            self._epochs.append((from_tick, offline))

    def layout(self, tick: int) -> Layout:
        """The devices reporting in a tick; shared by every tick with the same offline set, churn
        epoch and IP phase."""
        epoch = bisect.bisect_right(self._epochs, tick, key=lambda e: e[0]) - 1
        phase = tick % self.ip_period
        churn, absent = self.absent_at(tick) if self.absent_at is not None else (0, frozenset())
        found = self._layouts.get((epoch, churn, phase))
        if found is None:
            if len(self._layouts) > 256:  # many /_sim toggles: drop the cache, it is cheap to rebuild
                self._layouts.clear()
            offline = self._epochs[epoch][1] | absent
            same = next((v for (e, c, _), v in self._layouts.items() if e == epoch and c == churn), None)
            if same is not None:
                u, r = same.u, same.r
            else:
                u = [i for i in range(len(self._u)) if i not in offline]
                r = [j for j, ti in enumerate(self._r_owner) if ti not in offline]
            i = [n for n in u if self._ip[n][5] == phase]
            found = self._layouts[(epoch, churn, phase)] = Layout(u, r, i)
        return found

    # ---- reading -------------------------------------------------------------------------------------

    def read(self, cursor: Cursor, batch: int, now_tick: int, future: bool) -> tuple[list[Row], list[Row], list[Row]]:
        """Rows after `cursor` up to tick `now_tick`, at most `batch`; advances the cursor."""
        first = now_tick - self.retention_ticks + 1
        if cursor.tick < first:
            cursor.tick, cursor.offset = first, 0
        u_rows: list[Row] = []
        r_rows: list[Row] = []
        i_rows: list[Row] = []
        left = batch
        while left > 0 and cursor.tick <= now_tick:
            lay = self.layout(cursor.tick)
            start = cursor.offset
            take = min(left, lay.total - start)
            end = start + take
            nu, nr = len(lay.u), len(lay.u) + len(lay.r)
            if start < nu:
                u_rows += self.u_rows(cursor.tick, lay.u[start : min(end, nu)], future)
            if end > nu and start < nr:
                r_rows += self.r_rows(cursor.tick, lay.r[max(start - nu, 0) : min(end, nr) - nu])
            if end > nr:
                i_rows += self.i_rows(cursor.tick, lay.i[max(start - nr, 0) : end - nr])
            left -= take
            if end >= lay.total:
                cursor.tick, cursor.offset = cursor.tick + 1, 0
            else:
                cursor.offset = end
        return u_rows, r_rows, i_rows

    # ---- row generators (hot loops: keep them flat) -------------------------------------------------

    def u_rows(self, tick: int, indices: list[int], future: bool) -> list[Row]:
        # Rounding is done as int(x * 10**n) / 10**n: several times cheaper than round() and it
        # still serialises to the short decimal form.
        tick_ns = self.t0_ns + tick * self.interval_ns
        tick_s = tick * self.interval
        salt = (tick * GOLDEN) & MASK64
        drift = tick * 0.013
        forced = self.forced_alerts
        reboots = self.reboots
        interval = self.interval
        sin = math.sin
        statics = self._u
        rows: list[Row] = []
        append = rows.append
        for n in indices:
            (dev, kk, off, dl0, ul0, lat0, obst0, up0, sq0, ph, cell, move, swr, ver, cc, terr, prof, idx) = statics[n]
            h = mix((kk + salt) & MASK64)
            s = sin(drift + ph)
            r1 = (h & 0xFFFF) * _INV16
            r2 = ((h >> 16) & 0xFFFF) * _INV16
            r3 = ((h >> 32) & 0xFFFF) * _INV16
            alerts: Sequence[int] | None = forced.get(idx)
            if alerts is None:
                alerts = [c for c, w, pct in prof if mix(kk ^ (c << 40) ^ (tick // w)) % 100 < pct] if prof else ()
            if 80 in alerts:  # thermal shutdown: the dish passes no traffic
                dl = ul = 0.0
            else:
                dl = int(dl0 * (0.6 + 0.3 * s + 0.3 * r1) * 1e4) / 1e4
                ul = int(ul0 * (0.55 + 0.3 * s + 0.3 * r2) * 1e4) / 1e4
            if (h >> 56) == 0:  # no pings answered in the window
                drop = lat = None
            else:
                spike = (h >> 48) & 0xFF < 3
                drop = int((0.05 + 0.35 * r3 if spike else 0.02 * r3 * r3) * 1e4) / 1e4
                lat = int((lat0 + 6.0 * s + 8.0 * r2 * r2) * 10) / 10
            if (h >> 48) & 0xFF == 7:
                sq = None
            else:
                sq = int((sq0 + 0.06 * s + 0.04 * r1) * 1e3) / 1e3
                if sq > 1.0:
                    sq = 1.0
            if move is not None:
                mlat, lo, width, x0, speed = move
                x = (x0 + speed * tick_s) % (2 * width)
                cell = cell_of(mlat, lo + (x if x <= width else 2 * width - x))
            row = (
                "u", tick_ns - off, dev, dl, ul, drop, lat, int(obst0 * (0.7 + 0.6 * r3) * 1e3) / 1e3,
                int(up0 + tick_s), sq, cell, swr, ver, cc, terr, alerts,
            )  # fmt: skip
            if reboots and idx in reboots and tick >= reboots[idx]:  # back from a reboot: a small uptime
                row = (*row[:8], BOOT_S + int((tick - reboots[idx]) * interval), *row[9:])
            append((*row, int(r2 * 1e4) / 100) if future else row)
        return rows

    def r_rows(self, tick: int, indices: list[int]) -> list[Row]:
        tick_ns = self.t0_ns + tick * self.interval_ns
        tick_s = tick * self.interval
        salt = (tick * GOLDEN) & MASK64
        drift = tick * 0.021
        reboots = self.router_reboots
        sin = math.sin
        statics = self._r
        rows: list[Row] = []
        append = rows.append
        for n in indices:
            (rid, kk, off, swv, hwv, bypass, up0, rx0, tx0, rxr, txr, c2b, c5b, ph, dish, prof) = statics[n]
            h = mix((kk + salt) & MASK64)
            s = sin(drift + ph)
            r1 = (h & 0xFFFF) * _INV16
            r2 = ((h >> 16) & 0xFFFF) * _INV16
            c2 = int(c2b * (0.6 + 0.5 * s) + 2 * r1 - 1)
            c2 = c2 if c2 > 0 else 0
            c5 = int(c5b * (0.6 + 0.5 * s) + 3 * r2 - 1)
            c5 = c5 if c5 > 0 else 0
            ce = (h >> 60) & 1
            alerts = [c for c, w, pct in prof if mix(kk ^ (c << 40) ^ (tick // w)) % 100 < pct] if prof else ()
            if c2 == 0 or (h >> 61) == 0:  # Wi-Fi client stats are often null
                g24, s24 = _NULL6, _NULL3
            else:
                lo = int(10 + 200 * r1) / 10
                g24 = (lo, int(lo * 10 + 600 * r2) / 10, int(lo * 10 + 250 * r2) / 10,
                       lo, int(lo * 10 + 400 * r2) / 10, int(lo * 10 + 150 * r2) / 10)  # fmt: skip
                ss = int(-7500 + 2000 * r1) / 100
                s24 = (int(ss * 100 - 800 * r2) / 100, int(ss * 100 + 600 * r2) / 100, ss)
            if c5 == 0 or (h >> 58) & 7 == 0:
                g5, s5 = _NULL6, _NULL3
            else:
                lo = int(60 + 800 * r2) / 10
                g5 = (lo, int(lo * 10 + 4000 * r1) / 10, int(lo * 10 + 1500 * r1) / 10,
                      lo, int(lo * 10 + 3000 * r1) / 10, int(lo * 10 + 900 * r1) / 10)  # fmt: skip
                ss = int(-6800 + 1800 * r2) / 100
                s5 = (int(ss * 100 - 900 * r1) / 100, int(ss * 100 + 500 * r1) / 100, ss)
            drop = int(100 * r2 * r2) / 1e4
            lat = int(2800 + 1000 * s + 1200 * r1) / 100
            uptime = int(up0 + tick_s)
            if reboots and n in reboots and tick >= reboots[n]:
                uptime = BOOT_S + int((tick - reboots[n]) * self.interval)
            append((
                "r", tick_ns - off, rid, uptime, swv, hwv, False, 0, bypass,
                drop, int(lat * 100 + 310) / 100, drop, lat, int(10 * r1) / 1e4, int(300 + 1500 * r2) / 1e3,
                c2 + c5 + ce, c2, c5, ce, int(rx0 + rxr * tick_s), int(tx0 + txr * tick_s),
                *g24, *g5, *s24, *s5, dish, alerts,
            ))  # fmt: skip
        return rows

    def i_rows(self, tick: int, indices: list[int]) -> list[Row]:
        tick_ns = self.t0_ns + tick * self.interval_ns
        number = self.account.number
        statics = self._ip
        return [
            ("i", tick_ns - off, dev, v4, v6ue, v6cpe, number)
            for dev, off, v4, v6ue, v6cpe, _ in (statics[n] for n in indices)
        ]


def response_columns(account: Account, seed: int, client_id: str, n: int) -> dict[str, list[str]]:
    """Column names of response `n` of a client: element 0 fixed, the rest shuffled per response."""
    alert = account.alert_column
    u = [*U_BASE, alert] + ([FUTURE_COLUMN] if n % FUTURE_EVERY == FUTURE_EVERY - 1 else [])
    r = [*R_BASE, alert]
    i = list(I_COLUMNS)
    rng = random.Random(key(seed, account.index, hash_str(client_id), n))
    out: dict[str, list[str]] = {}
    for code, cols in (("u", u), ("r", r), ("i", i)):
        rest = cols[1:]
        rng.shuffle(rest)
        out[code] = [cols[0], *rest]
    return out


def reorder(rows: list[Row], canonical: list[str] | tuple[str, ...], shuffled: list[str]) -> list[Row]:
    """Rows (in canonical column order) rearranged into the response's column order."""
    pos = {name: i for i, name in enumerate(canonical)}
    getter = itemgetter(*(pos[name] for name in shuffled))
    return list(map(getter, rows))
