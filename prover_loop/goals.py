"""What is tried for a statement: the statement itself, its negation, or False from its hypotheses."""

from __future__ import annotations

from flywheel.records import Side, Statement


def goal_text(statement: Statement, side: Side, negation_form: str = "hyps") -> str:
    """The declaration (proof `sorry`) whose proof counts for this side. Names stay ours and distinct."""
    from flywheel.lean.text import statements as surgery
    from flywheel.lean.text.preamble import variable_binders

    thm = surgery.parse_theorem(statement.text)
    if side is Side.STATEMENT:
        goal = thm
    elif side is Side.NEGATION:
        goal = surgery.with_name(surgery.negate(thm, negation_form), f"{statement.name}_neg")
    else:
        goal = surgery.with_name(surgery.false_goal(thm, variable_binders(statement.preamble)), f"{statement.name}_false")
    return surgery.render(goal, "by sorry")
