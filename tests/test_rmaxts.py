"""RMaxTS: the tree's discounted UCB and virtual loss pick what a hand computation picks; a generator that can
only finish from an intermediate state is solved by the search and not by as many whole-proof samples; a killed
search resumes from its stored rollouts without repeating one."""

import math

import pytest

from flywheel.config import ProverConfig, RmaxtsConfig
from flywheel.lean.verifier import Verifier
from flywheel.prompting import resume_prompt
from flywheel.records import Side, VerdictStatus
from prover_loop.prove import prove_pass
from prover_loop.search_tree import ROOT, Stats, Tree
from tests.conftest import HEADER
from tests.doubles import ScriptedGenerator
from tests.seed import statement

TEXT = "theorem t (x : ℕ) (h : 0 < x) : 0 < x * x := by sorry"
H1 = "h1 : 0 < x * x"
# From the statement the model always writes the have and then a tactic that fails; only asked from the state
# after the have (its goals in the prompt) does it write the tactic that closes the proof.
WHOLE = "  have h1 : 0 < x * x := by positivity\n  nlinarith [h1] -- fake:fail\n```"
FINISH = "nlinarith [h1]\n```"


def _script(req):
    return [FINISH if H1 in req.prompt else WHOLE]


def test_discounted_counts_by_hand():
    s = Stats([1.0, 0.0, 1.0], pending=1)
    n, w = s.discounted(0.5, virtual_loss=2)  # entries 1, 0, 1, 0, 0: weights 1/16, 1/8, 1/4, 1/2, 1
    assert n == pytest.approx(1 / 16 + 1 / 8 + 1 / 4 + 1 / 2 + 1) and w == pytest.approx(1 / 16 + 1 / 4)


def test_ucb_and_virtual_loss_pick_the_nodes_a_hand_computation_picks():
    tree = Tree(ucb_c=1.0, discount=0.5, virtual_loss=1)
    assert tree.select() == [ROOT]  # no children: expand the root
    tree.start([ROOT])
    assert tree.add("a", ROOT, "by\n  a\n  ", ("⊢ A",)) and not tree.add("a", ROOT, "x", ())
    tree.finish([ROOT], 1.0)
    # at the root: here has [1], a is untried -> a
    assert tree.select() == [ROOT, "a"]
    tree.start([ROOT, "a"])
    tree.add("b", "a", "by\n  a\n  b\n  ", ("⊢ B",))
    tree.finish([ROOT, "a"], 1.0)
    tree.start([ROOT, "a"])
    tree.finish([ROOT, "a"], 0.0)
    # root: through [1, 1, 0] -> N = 1/4 + 1/2 + 1 = 1.75; here [1]: 1 + sqrt(2 ln 1.75); a [1, 0]: N = 1.5, W = .5
    here = 1 + math.sqrt(2 * math.log(1.75))
    down = 0.5 / 1.5 + math.sqrt(2 * math.log(1.75) / 1.5)
    assert here > down and tree.select() == [ROOT]
    # a rollout in flight at the root: here becomes [1, 0] (N 1.5, W .5), the root [1, 1, 0, 0] (N 1.875)
    tree.start([ROOT])
    here = 0.5 / 1.5 + math.sqrt(2 * math.log(1.875) / 1.5)
    down = 0.5 / 1.5 + math.sqrt(2 * math.log(1.875) / 1.5)
    assert here == pytest.approx(down)  # a tie goes to expanding here ...
    assert tree.select() == [ROOT]
    tree.start([ROOT])  # ... and a second one in flight tips it: here [1, 0, 0] (N 1.75, W .25)
    assert 0.25 / 1.75 + math.sqrt(2 * math.log(1.9375) / 1.75) < 0.5 / 1.5 + math.sqrt(2 * math.log(1.9375) / 1.5)
    # at a: here [1, 0] against b untried: b
    assert tree.select() == [ROOT, "a", "b"]


def test_the_resume_prompt_shows_the_goals_at_the_cut():
    prompt = resume_prompt(HEADER, "theorem t : True", "by\n  skip\n  ", ("x : ℕ\n⊢ True",))
    assert prompt.endswith(":= by\n  skip\n  /- tactic state:\nx : ℕ\n⊢ True -/\n  ")
    assert resume_prompt(HEADER, "theorem t : True", "", ()).endswith(":= by\n")


def _search(lean_cfg, generator, strategy, n, **prover):
    results = []
    cfg = ProverConfig(samples_per_side=n, strategy=[strategy],
                       rmaxts=RmaxtsConfig(rollouts=n, in_flight=prover.pop("in_flight", 2)), **prover)
    with Verifier(lean_cfg) as verifier:
        prove_pass([statement(0, text=TEXT)], {}, [Side.STATEMENT], cfg, 0, 1, generator, verifier.check, 2,
                   results.extend, tactics=verifier.check_tactics)
    return results


@pytest.mark.parametrize("in_flight", [1, 3])
def test_rmaxts_finishes_from_an_intermediate_state_that_whole_proofs_never_reach(lean_cfg, in_flight):
    (sampled,) = _search(lean_cfg, ScriptedGenerator(_script), "sample", 4)
    assert sampled.side is None and len(sampled.attempts) == 4
    generator = ScriptedGenerator(_script)
    (searched,) = _search(lean_cfg, generator, "rmaxts", 4, in_flight=in_flight)
    assert searched.side is Side.STATEMENT and searched.attempts[-1].verdict is VerdictStatus.PROVED
    first, *_, last = searched.attempts
    assert first.search["parent"] == ROOT and H1 in "\n".join(first.search["goals"])
    assert last.search["parent"] == first.search["node"] and last.search["prefix_len"] == len(first.search["prefix"])
    assert last.proof == first.search["prefix"] + "nlinarith [h1]" and searched.proof.proof == last.proof
    assert [a.sampling["rollout"] for a in searched.attempts] == list(range(len(searched.attempts)))
    assert {a.strategy for a in searched.attempts} == {"rmaxts"}


def _deepening(req):
    """Never proves: from the statement it reaches h1, from h1 it reaches h2, from h2 nothing new."""
    if "h2 : " in req.prompt:
        return ["linarith -- fake:fail\n```"]
    if H1 in req.prompt:
        return ["have h2 : 0 < x + x := by omega\n  linarith -- fake:fail\n```"]
    return [WHOLE]


def _stored_search(store, lean_cfg, generator, stop=None, resumed=None):
    import threading

    from db import proofs as dbproofs

    cfg = ProverConfig(strategy=["rmaxts"], rmaxts=RmaxtsConfig(rollouts=8, in_flight=2))
    st = statement(0, text=TEXT)

    def save(results):
        with store.session() as s:
            dbproofs.save_results(s, results, 1)

    with Verifier(lean_cfg) as verifier:
        prove_pass([st], {}, [Side.STATEMENT], cfg, 0, 1, generator, verifier.check, 2, save,
                   tactics=verifier.check_tactics, journal=True, resumed=resumed, stop=stop or threading.Event())
    return st


@pytest.mark.postgres
def test_a_killed_search_resumes_from_its_stored_rollouts_without_repeating_one(store, lean_cfg):
    import threading

    from sqlalchemy import text

    from db import proofs as dbproofs
    from db import statements as dbst

    with store.session() as s:
        dbst.insert_statements(s, [statement(0, text=TEXT)])
    stop = threading.Event()

    def killing(req):  # the kill comes while the fifth rollout is being written
        if len(first.requests) >= 5:
            stop.set()
        return _deepening(req)

    first = ScriptedGenerator(killing)
    st = _stored_search(store, lean_cfg, first, stop)
    with store.session() as s:
        assert dbproofs.done_units(s, 1, [Side.STATEMENT], 0) == set()  # an open search is not a done unit
        resumed = dbproofs.open_searches(s, 1, [Side.STATEMENT], 0)
    early = sorted(a.sampling["rollout"] for a in resumed[st.id])
    assert early and early == list(range(len(early))) and len(early) < 8
    second = ScriptedGenerator(_deepening)
    _stored_search(store, lean_cfg, second, resumed=resumed)
    asked = [r.key.rsplit(":r", 1)[1] for r in second.requests]
    assert sorted(map(int, asked)) == list(range(len(early), 8))  # every stored rollout replayed, none asked again
    with store.session() as s:
        assert dbproofs.done_units(s, 1, [Side.STATEMENT], 0) == {st.id}
        rows = s.execute(text("SELECT (sampling->>'rollout')::int, search->>'parent', search->>'node' "
                              "FROM proof_attempts WHERE statement_id = :id ORDER BY 1"), {"id": st.id}).all()
        nodes = s.execute(text("SELECT node, parent, found_by, expanded FROM search_nodes WHERE statement_id = :id "
                               "ORDER BY found_by NULLS FIRST"), {"id": st.id}).all()
    # the same rows as a search never killed stores
    with store.session() as s:
        s.execute(text("DELETE FROM proof_attempts")); s.execute(text("DELETE FROM search_units"))
    _stored_search(store, lean_cfg, ScriptedGenerator(_deepening))
    with store.session() as s:
        again = s.execute(text("SELECT (sampling->>'rollout')::int, search->>'parent', search->>'node' "
                               "FROM proof_attempts WHERE statement_id = :id ORDER BY 1"), {"id": st.id}).all()
    assert [r[0] for r in rows] == list(range(8)) and rows == again
    assert [n[0] for n in nodes][0] == "root" and len(nodes) == 3  # the statement, h1, h2
    assert sum(n[3] for n in nodes) == 8 and nodes[1][1] == "root" and nodes[2][1] == nodes[1][0]


@pytest.mark.parametrize("budget, rollouts, stored", [({"budget_checks": 2}, 8, 2), ({}, 3, 3),
                                                      ({"budget_tokens": 1}, 8, 1)])
def test_budgets_stop_the_search_where_they_say(lean_cfg, budget, rollouts, stored):
    """Rollouts, Lean checks and generated tokens each bound a search that would otherwise go on (it never proves)."""
    results = []
    cfg = ProverConfig(strategy=["rmaxts"], rmaxts=RmaxtsConfig(rollouts=rollouts, in_flight=2), **budget)
    never = ScriptedGenerator(lambda req: ["  nlinarith -- fake:fail\n```"])
    with Verifier(lean_cfg) as verifier:
        prove_pass([statement(0, text=TEXT)], {}, [Side.STATEMENT], cfg, 0, 1, never, verifier.check, 2,
                   results.extend, tactics=verifier.check_tactics)
    (result,) = results
    assert result.side is None and len(result.attempts) == stored
