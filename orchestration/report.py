"""`flywheel report`: one HTML page with PNG plots beside it and the same numbers as report.json. Everything
is a relative file, so the page opens from disk with no server and no network."""

from __future__ import annotations

import html
import json
from pathlib import Path

# Marks on <body> how many images the browser loaded, so a headless check (and a reader) sees broken ones.
_CHECK = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
          "document.body.dataset.images=i.length;"
          "document.body.dataset.loaded=i.filter(x=>x.complete&&x.naturalWidth>0).length;});</script>")


def write_report(data: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    plots = _plots(data, out)
    page = out / "index.html"
    page.write_text(_page(data, plots), encoding="utf-8")
    return page


def _plots(data: dict, out: Path) -> list[tuple[str, str]]:
    """(title, file name) of each PNG written."""
    try:
        import matplotlib
    except ImportError as e:
        from flywheel.errors import ConfigError

        raise ConfigError("the report draws with matplotlib: pip install -e '.[report]'") from e
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    made = []
    for title, name, draw in ((("Funnel by round", "funnel.png", _funnel)), ("Drop reasons", "drops.png", _drops),
                              ("pass@k by round", "pass_at_k.png", _pass_at_k),
                              ("Pass rate against Lean checks", "budget_checks.png", _budget("checks")),
                              ("Pass rate against generated tokens", "budget_tokens.png", _budget("tokens")),
                              ("Training loss", "loss.png", _loss),
                              ("Throughput", "throughput.png", _throughput), ("Dataset growth", "dataset.png", _dataset)):
        fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
        if not draw(ax, data):
            ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(out / name)
        plt.close(fig)
        made.append((title, name))
    return made


def _funnel(ax, data: dict) -> bool:
    rounds = data["rounds"]
    if not rounds:
        return False
    steps = ["problems", "statements", "kept", "proved: statement", "proved: negation", "open"]
    width = 0.8 / len(rounds)
    for i, r in enumerate(rounds):
        ax.bar([j + i * width for j in range(len(steps))], [r["funnel"].get(s, 0) for s in steps], width,
               label=f"round {r['round']}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(steps))], steps, fontsize=8)
    ax.legend(fontsize=8)
    return True


def _drops(ax, data: dict) -> bool:
    drops = data["drop_reasons"]
    if not drops:
        return False
    reasons = sorted({d["reason"] for d in drops})
    rounds = sorted({d["round"] for d in drops})
    bottom = [0] * len(rounds)
    for reason in reasons:
        values = [sum(d["statements"] for d in drops if d["round"] == r and d["reason"] == reason) for r in rounds]
        ax.bar([str(r) for r in rounds], values, bottom=bottom, label=reason)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xlabel("round")
    ax.legend(fontsize=7)
    return True


def _pass_at_k(ax, data: dict) -> bool:
    evals = [e for e in data["pass_at_k"] if e.get("pass_at_k")]
    if not evals:
        return False
    series: dict[tuple, list] = {}
    for e in evals:
        for k, v in e["pass_at_k"].items():
            x = e["round"] if e["round"] is not None else 0
            series.setdefault((e["benchmark"], e["split"], k), []).append((x, 100 * v))
    for (bench, split, k), points in sorted(series.items(), key=lambda kv: (kv[0][0], kv[0][1], int(kv[0][2]))):
        xs, ys = zip(*sorted(points))
        ax.plot(xs, ys, marker="o", label=f"{bench} {split} pass@{k}")
    ax.set_xlabel("round (0: outside a round)")
    ax.set_ylabel("%")
    ax.legend(fontsize=7)
    return True


def _budget(spent: str):
    """pass@k of each evaluation against what its k attempts spent (`checks` or `tokens`), a line per strategy
    and evaluation (prover_loop.evaluate.budget_curve)."""

    def draw(ax, data: dict) -> bool:
        drawn = False
        for e in data["pass_at_k"]:
            curve = (e.get("budgets") or {}).get("curve")
            if not curve:
                continue
            round_ = f"round {e['round']}" if e["round"] is not None else "outside a round"
            ax.plot([p[spent] for p in curve], [100 * p["pass"] for p in curve], marker="o",
                    label=f"{e['budgets'].get('strategy', '?')} ({e['benchmark']} {e['split']}, {round_})")
            drawn = True
        if drawn:
            ax.set_xscale("log")
            ax.set_xlabel("Lean checks" if spent == "checks" else "generated tokens")
            ax.set_ylabel("pass rate %")
            ax.legend(fontsize=7)
        return drawn

    return draw


def _loss(ax, data: dict) -> bool:
    drawn = False
    for c in data["training"]:
        if c["loss"]:
            ax.plot([p["step"] for p in c["loss"]], [p["loss"] for p in c["loss"]], label=f"round {c['round']}")
            drawn = True
    if drawn:
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    return drawn


def _throughput(ax, data: dict) -> bool:
    rows = [r for r in data["rounds"] if r["throughput"]["attempts"]]
    if not rows:
        return False
    names = [str(r["round"]) for r in rows]
    ax.bar([i - 0.2 for i in range(len(rows))], [r["throughput"]["attempts_per_s"] or 0 for r in rows], 0.4,
           label="proofs sampled and verified per s (prove wall time)")
    ax.bar([i + 0.2 for i in range(len(rows))], [r["throughput"]["checks_per_lean_s"] or 0 for r in rows], 0.4,
           label="Lean checks per Lean-second")
    ax.set_xticks(range(len(rows)), names)
    ax.set_xlabel("round")
    ax.legend(fontsize=7)
    return True


def _dataset(ax, data: dict) -> bool:
    growth = data["dataset"]
    if not growth:
        return False
    xs = [g["round"] for g in growth]
    ax.plot(xs, [g["proofs"] for g in growth], marker="o", label="proofs (cumulative)")
    ax.plot(xs, [g["audited"] for g in growth], marker="o", label="audited (cumulative)")
    ax.set_xlabel("round")
    ax.legend(fontsize=8)
    return True


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _per_attempt(budgets: dict | None) -> str:
    if not budgets:
        return ""
    return f"{budgets['checks_per_attempt']:.2f} Lean checks, {budgets['tokens_per_attempt']:.0f} tokens"


def _page(data: dict, plots: list[tuple[str, str]]) -> str:
    funnel_keys = ["problems", "statements", "kept", "proved: statement", "proved: negation", "open"]
    funnel = _table(["round", *funnel_keys], [[r["round"], *(r["funnel"].get(k, 0) for k in funnel_keys)]
                                               for r in data["rounds"]])
    evals = _table(["round", "checkpoint", "benchmark", "split", "n", "strategy", "pass@k", "per attempt"],
                   [[e["round"], e["checkpoint"], e["benchmark"], e["split"], e["n"],
                     (e.get("budgets") or {}).get("strategy", ""),
                     ", ".join(f"@{k} {100 * v:.1f}%" for k, v in (e["pass_at_k"] or {}).items()) or "unfinished",
                     _per_attempt(e.get("budgets"))]
                    for e in data["pass_at_k"]])
    images = "".join(f'<figure><img src="{name}" alt="{html.escape(title)}"><figcaption>{html.escape(title)}'
                     f"</figcaption></figure>" for title, name in plots)
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>flywheel report</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:2px 8px}figure{display:inline-block;margin:0 1em 1em 0}</style>"
            f"</head><body><h1>flywheel report</h1><p>The numbers are in <a href=\"report.json\">report.json</a>.</p>"
            f"<h2>Funnel</h2>{funnel}<h2>pass@k</h2>{evals}<h2>Plots</h2>{images}{_CHECK}</body></html>\n")
