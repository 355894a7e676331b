"""RMaxTS: the tree's discounted UCB and virtual loss pick what a hand computation picks; a generator that can
only finish from an intermediate state is solved by the search and not by as many whole-proof samples; a killed
search resumes from its stored rollouts without repeating one."""

import math

import pytest

from flywheel.config import ProverConfig, RmaxtsConfig
from flywheel.lean.guard.verifier import Verifier
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


def _tree(here: list, kids: dict, discount=0.5) -> Tree:
    """A root whose own rollouts earned `here` and whose children (state -> rewards of their subtree, all
    expanded at the child) earned those; made by walks, then given the statistics by hand."""
    tree = Tree(ucb_c=1.0, discount=discount, virtual_loss=1)
    for state in kids:
        tree.walk([(state, f"by\n  {state}\n  ", (f"⊢ {state}",))])
    tree.nodes[ROOT].here.rewards = list(here)
    tree.nodes[ROOT].through.rewards = list(here) + [r for rs in kids.values() for r in rs]
    for state, rewards in kids.items():
        child = tree.nodes[tree.nodes[ROOT].children[state]]
        child.here.rewards, child.through.rewards = list(rewards), list(rewards)
    return tree


def test_the_ucb_total_is_the_sum_over_the_choices():
    """The paper's discounted UCB at a node: W_γ/N_γ + sqrt(2 ln Σ_choices N_γ / N_γ), the node's own rollouts
    one choice and each child's subtree another. Root: own rewards 1, 0, 1, 0 (γ = 1/2: N = 1/8 + 1/4 + 1/2 + 1
    = 1.875, W = 1/8 + 1/2 = 0.625); child A: one rollout, reward 0 (N = 1, W = 0). Σ N = 2.875."""
    tree = _tree([1.0, 0.0, 1.0, 0.0], {"A": [0.0]})
    here = 0.625 / 1.875 + math.sqrt(2 * math.log(2.875) / 1.875)  # 1.3947
    down = 0.0 + math.sqrt(2 * math.log(2.875) / 1.0)  # 1.4533
    assert down > here and tree.select() == [ROOT, tree.nodes[ROOT].children["A"]]
    # the subtree's own discounted count (1/16 + 1/8 + 1/4 + 1/2 + 1 = 1.9375, A's rollout before the root's
    # last) would pick the root instead: 0.3333 + 0.8399 against 1.1501
    assert 0.625 / 1.875 + math.sqrt(2 * math.log(1.9375) / 1.875) > math.sqrt(2 * math.log(1.9375))


def test_the_log_floor_is_two_and_an_untried_choice_divides_by_a_hundredth():
    """A total under 2 counts as 2 under the logarithm (the reference's max(total, 2)); an untried choice has
    N = 0, scored as N = 0.01: 0 + sqrt(2 ln 2 / 0.01) = 11.77, above any tried one."""
    tree = _tree([0.0], {"A": [0.0], "B": []}, discount=0.5)
    # root: own N 1, W 0; A: N 1, W 0; B untried. Σ N = 2.
    assert tree.score(tree.nodes[ROOT].here, 1.5) == pytest.approx(math.sqrt(2 * math.log(2)))  # not ln 1.5
    assert tree.score(tree.nodes[tree.nodes[ROOT].children["B"]].through, 2) == pytest.approx(
        math.sqrt(2 * math.log(2) / 0.01))
    assert tree.select()[-1] == tree.nodes[ROOT].children["B"]


def test_virtual_loss_weighs_as_the_newest_zeros():
    """Root own [1], A [1, 0] (N 1.5, W 0.5), γ = 1/2: Σ N = 2.5; own 1 + sqrt(2 ln 2.5) = 2.354 against A
    0.333 + sqrt(2 ln 2.5 / 1.5) = 1.439: expand the root. One rollout in flight there: own [1, 0] (N 1.5,
    W 0.5), Σ N = 3: both score 0.333 + sqrt(2 ln 3 / 1.5) and the tie goes to the root; a second in flight:
    own [1, 0, 0] (N 1.75, W 0.25), Σ N = 3.25: 0.143 + 1.146 against 0.333 + 1.252: go down to A."""
    tree = _tree([1.0], {"A": [1.0, 0.0]})
    a = tree.nodes[ROOT].children["A"]
    assert 1 + math.sqrt(2 * math.log(2.5)) > 0.5 / 1.5 + math.sqrt(2 * math.log(2.5) / 1.5)
    assert tree.select() == [ROOT]
    tree.start([ROOT])
    assert tree.select() == [ROOT]
    tree.start([ROOT])
    assert 0.25 / 1.75 + math.sqrt(2 * math.log(3.25) / 1.75) < 0.5 / 1.5 + math.sqrt(2 * math.log(3.25) / 1.5)
    assert tree.select() == [ROOT, a]
    tree.finish([ROOT], 0.0)
    tree.finish([ROOT], 0.0)
    assert tree.nodes[ROOT].here.rewards == [1.0, 0.0, 0.0] and tree.nodes[ROOT].here.pending == 0


def test_a_walk_makes_a_node_for_every_step_and_keys_children_per_parent():
    """_tree_update: a rollout's states along its accepted prefix, walked from the root, each a child of the one
    before; a state met under another parent is a node of its own, and a walk that makes one earns 1."""
    tree = Tree(discount=0.5)
    assert tree.walk([("A", "by\n  a\n  ", ("⊢ A",)), ("B", "by\n  a\n  b\n  ", ("⊢ B",))])
    a = tree.nodes[ROOT].children["A"]
    b = tree.nodes[a].children["B"]
    assert tree.nodes[b].parent == a and tree.nodes[b].prefix == "by\n  a\n  b\n  " and tree.nodes[a].goals == ("⊢ A",)
    assert not tree.walk([("A", "by\n  a'\n  ", ("⊢ A",))])  # nothing new: reward 0, the first prefix kept
    assert tree.nodes[a].prefix == "by\n  a\n  "
    assert tree.walk([("B", "by\n  b\n  ", ("⊢ B",))])  # B under the root is another node than B under A
    assert tree.nodes[ROOT].children["B"] != b and len(tree.nodes) == 4
    # the intermediate state is a node the search can resume from: A (with a child) is selectable
    tree.nodes[ROOT].here.rewards = [1.0, 1.0, 0.0]
    assert tree.select() == [ROOT, a]


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


def test_a_rollout_files_every_state_along_its_prefix_and_the_search_resumes_from_one_between(lean_cfg):
    """From the statement the model writes two haves and a failing tactic: the tree gets the state after each have
    (h1 under the root, h1 and h2 under it), and the next rollout resumes from the state after the first have,
    where the model finishes the proof (it never does from the state after both)."""
    two = "  have h1 : 0 < x * x := by positivity\n  have h2 : 0 < x + x := by omega\n  nlinarith -- fake:fail\n```"

    def script(req):
        if "h2 : " in req.prompt:
            return ["linarith -- fake:fail\n```"]
        return [FINISH if H1 in req.prompt else two]

    (searched,) = _search(lean_cfg, ScriptedGenerator(script), "rmaxts", 4, in_flight=1)
    first, second = searched.attempts
    steps = first.search["steps"]
    assert [s["parent"] for s in steps] == [ROOT, steps[0]["node"]] and first.search["node"] == steps[1]["node"]
    assert H1 in "\n".join(steps[0]["goals"]) and "h2 : " not in "\n".join(steps[0]["goals"])
    assert steps[0]["prefix"] == "by\n  have h1 : 0 < x * x := by positivity\n  "
    assert "h2 : 0 < x + x" in "\n".join(steps[1]["goals"])
    assert second.search["parent"] == steps[0]["node"] and second.verdict is VerdictStatus.PROVED
    assert second.proof == steps[0]["prefix"] + "nlinarith [h1]"
