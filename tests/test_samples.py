"""Labelled samples held compactly (leo_exporter/samples.py): what a scrape shows must not change.

Lines of a family with extra labels come entity by entity in the order the entities' samples
were first stored (an entity whose samples were removed and stored again comes last), and within
an entity in the order the samples were given."""

from __future__ import annotations

from leo_exporter import catalog
from leo_exporter.render import Renderer
from leo_exporter.samples import SHARED_SETS, FragmentSets, Samples
from leo_exporter.state import AccountState, FleetState

NOW = 1_763_700_000.0


def account() -> tuple[FleetState, AccountState]:
    state = FleetState(lambda: NOW)
    acc = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    state.add_account(acc)
    return state, acc


def lines(state: FleetState, family: str) -> list[str]:
    text = Renderer(state).render().plain.decode()
    prefix = family + "{"
    return [line.split(",", 2)[2] for line in text.splitlines() if line.startswith(prefix)]


def test_samples_render_in_the_order_given_entity_by_entity() -> None:
    state, acc = account()
    routers = acc.routers
    routers.set_labelled(catalog.ROUTER_CLIENTS, "R2", {("5ghz",): 3, ("2ghz",): 1, ("all",): 4})
    routers.set_labelled(catalog.ROUTER_CLIENTS, "R1", {("all",): 2, ("ethernet",): 2})
    assert lines(state, "leo_router_clients") == [
        'router_id="R2",band="5ghz"} 3.0',
        'router_id="R2",band="2ghz"} 1.0',
        'router_id="R2",band="all"} 4.0',
        'router_id="R1",band="all"} 2.0',
        'router_id="R1",band="ethernet"} 2.0',
    ]


def test_replacing_keeps_the_entitys_place_removing_and_adding_again_moves_it_last() -> None:
    state, acc = account()
    routers = acc.routers
    for rid in ("R1", "R2", "R3"):
        routers.set_labelled(catalog.ROUTER_CLIENTS, rid, {("all",): 1})
    routers.set_labelled(catalog.ROUTER_CLIENTS, "R1", {("all",): 7, ("5ghz",): 7})
    assert [line.split('"')[1] for line in lines(state, "leo_router_clients")] == ["R1", "R1", "R2", "R3"]
    routers.set_labelled(catalog.ROUTER_CLIENTS, "R1", {})  # no samples: no series
    assert [line.split('"')[1] for line in lines(state, "leo_router_clients")] == ["R2", "R3"]
    routers.set_labelled(catalog.ROUTER_CLIENTS, "R1", {("all",): 5})
    assert lines(state, "leo_router_clients")[-1] == 'router_id="R1",band="all"} 5.0'


def test_merge_keeps_the_others_and_appends_new_labels() -> None:
    state, acc = account()
    routers = acc.routers
    routers.set_labelled(catalog.ROUTER_CLIENTS, "R1", {("all",): 1, ("2ghz",): 1})
    routers.merge_labelled(catalog.ROUTER_CLIENTS, "R1", {("2ghz",): 9, ("5ghz",): 0})
    assert lines(state, "leo_router_clients") == [
        'router_id="R1",band="all"} 1.0',
        'router_id="R1",band="2ghz"} 9.0',
        'router_id="R1",band="5ghz"} 0.0',
    ]
    assert routers.get_labelled(catalog.ROUTER_CLIENTS, "R1", ("2ghz",)) == 9.0
    assert routers.get_labelled(catalog.ROUTER_CLIENTS, "R1", ("ethernet",)) is None
    assert routers.get_labelled(catalog.ROUTER_CLIENTS, "R9", ("all",)) is None


def test_values_keep_their_exact_text_and_non_finite_ones_are_no_series() -> None:
    state, acc = account()
    acc.routers.set_labelled(
        catalog.ROUTER_CLIENTS,
        "R1",
        {("all",): -0.0, ("2ghz",): 1e-300, ("5ghz",): float("nan"), ("ethernet",): 123456789012345.67},
    )
    assert lines(state, "leo_router_clients") == [
        'router_id="R1",band="all"} -0.0',
        'router_id="R1",band="2ghz"} 1e-300',
        'router_id="R1",band="ethernet"} 123456789012345.67',
    ]


def test_going_offline_clears_live_labelled_series_and_keeps_ip_info() -> None:
    state, acc = account()
    terminals = acc.terminals
    terminals.last_seen["T1"] = NOW - 10
    terminals.ensure("T1")
    terminals._store_alerts(catalog.TERMINAL_ALERT.name, "T1", ("thermal_throttling",))
    terminals.set_labelled_at(catalog.TERMINAL_IP_INFO, "T1", NOW - 10, {("ipv4", "100.64.0.7"): 1.0})
    state.tick()
    assert lines(state, "leo_terminal_alert") == ['terminal_id="T1",alert="thermal_throttling"} 1.0']
    terminals.last_seen["T1"] = NOW - 500  # past offline_after
    state.tick()
    assert lines(state, "leo_terminal_alert") == []
    assert lines(state, "leo_terminal_ip_info") == ['terminal_id="T1",kind="ipv4",address="100.64.0.7"} 1.0']
    terminals.last_seen["T1"] = NOW - 1
    terminals._store_alerts(catalog.TERMINAL_ALERT.name, "T1", ("motors_stuck",))
    state.tick()
    assert lines(state, "leo_terminal_alert") == ['terminal_id="T1",alert="motors_stuck"} 1.0']


def test_set_labelled_at_ignores_older_rows_and_equal_samples_count_as_unchanged() -> None:
    _, acc = account()
    terminals = acc.terminals
    assert terminals.set_labelled_at(catalog.TERMINAL_IP_INFO, "T1", 10.0, {("ipv4", "a"): 1.0})
    assert not terminals.set_labelled_at(catalog.TERMINAL_IP_INFO, "T1", 5.0, {("ipv4", "b"): 1.0})
    version = terminals.version
    assert terminals.set_labelled_at(catalog.TERMINAL_IP_INFO, "T1", 11.0, {("ipv4", "a"): 1.0})
    assert terminals.version == version  # the same samples: nothing to render again
    assert terminals.get_labelled(catalog.TERMINAL_IP_INFO, "T1", ("ipv4", "a")) == 1.0


def test_entities_with_the_same_labels_share_one_tuple_of_label_texts() -> None:
    _, acc = account()
    routers = acc.routers
    for rid in ("R1", "R2"):
        routers.set_labelled(catalog.ROUTER_CLIENTS, rid, {("all",): 1, ("2ghz",): 1})
    held = routers.labelled[catalog.ROUTER_CLIENTS.name]
    assert held["R1"].fragments is held["R2"].fragments
    assert held["R1"] == {'band="all"': 1.0, 'band="2ghz"': 1.0}
    assert held["R1"] != {'band="all"': 1.0}


def test_the_shared_sets_stay_bounded() -> None:
    sets = FragmentSets()
    first = sets.shared(("a",))
    for n in range(SHARED_SETS + 5):
        sets.shared((f"x{n}",))
    assert len(sets._sets) <= SHARED_SETS
    again = ("a",)
    assert sets.shared(again) is again  # forgotten, then held again: still correct, just not shared
    assert first == again


def test_samples_read_like_a_mapping() -> None:
    samples = Samples.of({'band="all"': 2.0, 'band="5ghz"': 1.0}, FragmentSets())
    assert list(samples) == ['band="all"', 'band="5ghz"']
    assert samples['band="5ghz"'] == 1.0
    assert samples.get('band="2ghz"') is None
    assert dict(samples) == {'band="all"': 2.0, 'band="5ghz"': 1.0}
    assert len(samples) == 2
