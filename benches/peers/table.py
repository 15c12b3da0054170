#!/usr/bin/env python3
"""Joins the JSON lines of `benches/peers.rs` (orch) and `langgraph_shapes.py` (LangGraph) into
one Markdown table; `benches/peers/run` calls it. Ratios are LangGraph's median over orch's.

    table.py ORCH_JSONL LANGGRAPH_JSONL
"""

import json
import sys

# The rows, in order: orch's shape, LangGraph's shape, and what the row shows.
ROWS = [
    ("chain_10", "chain_10", "chain of 10 no-op steps"),
    ("chain_100", "chain_100", "chain of 100 no-op steps"),
    ("fanout_8x50ms", "fanout_8x50ms", "8 parallel branches × 50 ms sleep, joined"),
    ("loop_100", "loop_100", "bounded loop, 100 no-op iterations (orch: `loop … max 100`)"),
    (
        "loop_100_edge",
        "loop_100",
        "bounded loop, 100 no-op iterations (orch: `ok -> step max 99 else done`)",
    ),
    ("map_100", "map_100", "map over 100 items, no-op worker (LangGraph: `Send`)"),
    ("concurrent_1000", "concurrent_1000", "1,000 concurrent runs of 3 steps × 10 ms sleep"),
]


def read(path):
    header, shapes = {}, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if "shape" not in record:
                header.update(record)
            else:
                shapes[(record["shape"], record.get("api"))] = record
    return header, shapes


def show_time(seconds):
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def show_ratio(ratio):
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2f}×"


def main(orch_path, langgraph_path):
    orch_header, orch = read(orch_path)
    lg_header, lg = read(langgraph_path)
    print(
        "| shape | orch | LangGraph `ainvoke` | ratio | LangGraph `invoke` | ratio |\n"
        "|---|---|---|---|---|---|"
    )
    for orch_shape, lg_shape, description in ROWS:
        mine = orch.get((orch_shape, None))
        if mine is None:
            continue
        cells = [description, show_time(mine["median_s"])]
        for api in ("ainvoke", "invoke"):
            theirs = lg.get((lg_shape, api))
            if theirs is None:
                cells += ["—", "—"]
            else:
                cells += [
                    show_time(theirs["median_s"]),
                    show_ratio(theirs["median_s"] / mine["median_s"]),
                ]
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        f"orch {orch_header.get('orch', '?')} on {orch_header.get('runtime', '?')}; "
        f"LangGraph {lg_header.get('langgraph', '?')} (langchain-core "
        f"{lg_header.get('langchain-core', '?')}) on {lg_header.get('implementation', 'Python')} "
        f"{lg_header.get('python', '?')}, asyncio {lg_header.get('event_loop', '?')}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
