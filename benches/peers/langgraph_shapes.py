#!/usr/bin/env python3
"""The workflow shapes of `benches/peers.rs`, built as LangGraph `StateGraph`s and timed.

Prints one JSON object per line: first the versions and the machine, then one line per shape
with the median wall time of one run over many repetitions. `benches/peers/run` runs this
script next to orch's side and prints both as one table.

    langgraph_shapes.py [--quick] [SHAPE ...]

Every shape is run with `ainvoke` on one asyncio event loop, nodes being `async def` (as orch's
workers are async); all but the concurrent runs are also run with the synchronous `invoke`
(`"api": "invoke"`), LangGraph's other way of running a graph, whose parallel nodes share a
thread pool of `min(32, cores + 4)` threads. No checkpointer is attached. Runs that take more
than LangGraph's default 25 steps get a `recursion_limit` above their length.
"""

import asyncio
import json
import operator
import os
import platform
import sys
import time
from importlib import metadata
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

FANOUT_BRANCHES = 8
FANOUT_SLEEP = 0.050
STEP_SLEEP = 0.010


class Plan:
    """Repetitions: at least `min`, then until `budget` seconds are spent, at most `max`."""

    def __init__(self, min_reps, max_reps, budget, quick):
        if quick:
            min_reps = max(3, -(-min_reps // 3))
            max_reps = max(3, -(-max_reps // 3))
            budget /= 4
        self.min, self.max, self.budget = min_reps, max_reps, budget


def median(samples):
    samples = sorted(samples)
    mid = len(samples) // 2
    return samples[mid] if len(samples) % 2 else (samples[mid - 1] + samples[mid]) / 2


async def time_async(plan, run):
    """The median time of `await run()` in seconds, after one warm-up run; and the count."""
    await run()
    began = time.perf_counter()
    samples = []
    while len(samples) < plan.min or (
        time.perf_counter() - began < plan.budget and len(samples) < plan.max
    ):
        t = time.perf_counter()
        await run()
        samples.append(time.perf_counter() - t)
    return median(samples), len(samples)


def time_sync(plan, run):
    run()
    began = time.perf_counter()
    samples = []
    while len(samples) < plan.min or (
        time.perf_counter() - began < plan.budget and len(samples) < plan.max
    ):
        t = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t)
    return median(samples), len(samples)


# The states. A no-op node returns an empty update; parallel branches and map workers each
# append one result, as orch collects each branch's and each element's output.


class Empty(TypedDict, total=False):
    pass


class Counter(TypedDict):
    i: int


class Collected(TypedDict, total=False):
    items: list
    results: Annotated[list, operator.add]


async def noop_async(state):
    return {}


def noop_sync(state):
    return {}


def chain(steps, node):
    """`steps` no-op nodes in a line."""
    graph = StateGraph(Empty)
    for i in range(steps):
        graph.add_node(f"t{i}", node)
        graph.add_edge(START if i == 0 else f"t{i - 1}", f"t{i}")
    graph.add_edge(f"t{steps - 1}", END)
    return graph.compile()


def fanout(sync):
    """`FANOUT_BRANCHES` branches from the start, each sleeping 50 ms, joined by one node."""

    async def sleeper_async(state):
        await asyncio.sleep(FANOUT_SLEEP)
        return {"results": [None]}

    def sleeper_sync(state):
        time.sleep(FANOUT_SLEEP)
        return {"results": [None]}

    graph = StateGraph(Collected)
    branches = [f"b{i}" for i in range(FANOUT_BRANCHES)]
    for name in branches:
        graph.add_node(name, sleeper_sync if sync else sleeper_async)
        graph.add_edge(START, name)
    graph.add_node("join", noop_sync if sync else noop_async)
    graph.add_edge(branches, "join")
    graph.add_edge("join", END)
    return graph.compile()


def bounded_loop(iterations, sync):
    """One node that goes back to itself through a conditional edge, `iterations` times."""

    async def step_async(state):
        return {"i": state["i"] + 1}

    def step_sync(state):
        return {"i": state["i"] + 1}

    def again(state):
        return "step" if state["i"] < iterations else END

    graph = StateGraph(Counter)
    graph.add_node("step", step_sync if sync else step_async)
    graph.add_edge(START, "step")
    graph.add_conditional_edges("step", again, ["step", END])
    return graph.compile()


def map_over(sync):
    """One `Send` per item to a no-op worker; the results gathered by a reducer."""

    async def work_async(state):
        return {"results": [None]}

    def work_sync(state):
        return {"results": [None]}

    def each(state):
        return [Send("work", {"item": item}) for item in state["items"]]

    graph = StateGraph(Collected)
    graph.add_node("work", work_sync if sync else work_async)
    graph.add_conditional_edges(START, each, ["work"])
    graph.add_edge("work", END)
    return graph.compile()


def three_sleeping_steps():
    """A chain of three nodes that each sleep 10 ms."""

    async def sleeper(state):
        await asyncio.sleep(STEP_SLEEP)
        return {}

    graph = StateGraph(Empty)
    previous = START
    for name in ["a", "b", "c"]:
        graph.add_node(name, sleeper)
        graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph.compile()


def limit(steps):
    """A recursion limit above the run's number of steps (LangGraph's default is 25)."""
    return {"recursion_limit": steps + 10}


# Each shape: its name, a description, and a coroutine that measures it and returns lines.


async def measure_chain(steps, quick):
    plan = Plan(20, 2000, 3.0, quick)
    config = limit(steps)
    graph = chain(steps, noop_async)
    lines = [("ainvoke", *await time_async(plan, lambda: graph.ainvoke({}, config)))]
    graph = chain(steps, noop_sync)
    lines.append(("invoke", *time_sync(plan, lambda: graph.invoke({}, config))))
    return lines


async def measure_fanout(quick):
    plan = Plan(10, 60, 3.0, quick)
    graph = fanout(sync=False)
    lines = [("ainvoke", *await time_async(plan, lambda: graph.ainvoke({})))]
    graph = fanout(sync=True)
    lines.append(("invoke", *time_sync(plan, lambda: graph.invoke({}))))
    return lines


async def measure_loop(iterations, quick):
    plan = Plan(20, 2000, 3.0, quick)
    config = limit(iterations)
    graph = bounded_loop(iterations, sync=False)
    lines = [("ainvoke", *await time_async(plan, lambda: graph.ainvoke({"i": 0}, config)))]
    graph = bounded_loop(iterations, sync=True)
    lines.append(("invoke", *time_sync(plan, lambda: graph.invoke({"i": 0}, config))))
    return lines


async def measure_map(items, quick):
    plan = Plan(20, 2000, 3.0, quick)
    state = {"items": list(range(items))}
    graph = map_over(sync=False)

    async def run_async():
        result = await graph.ainvoke(state)
        assert len(result["results"]) == items

    lines = [("ainvoke", *await time_async(plan, run_async))]
    graph = map_over(sync=True)
    lines.append(("invoke", *time_sync(plan, lambda: graph.invoke(state))))
    return lines


async def measure_concurrent(runs, quick):
    plan = Plan(5, 20, 10.0, quick)
    graph = three_sleeping_steps()

    async def run_all():
        results = await asyncio.gather(*(graph.ainvoke({}) for _ in range(runs)))
        assert len(results) == runs

    return [("ainvoke", *await time_async(plan, run_all))]


SHAPES = {
    "chain_10": ("chain of 10 no-op steps", lambda q: measure_chain(10, q)),
    "chain_100": ("chain of 100 no-op steps", lambda q: measure_chain(100, q)),
    "fanout_8x50ms": (
        "8 parallel branches sleeping 50 ms, then a join",
        measure_fanout,
    ),
    "loop_100": ("bounded loop, one no-op step 100 times", lambda q: measure_loop(100, q)),
    "map_100": ("map over 100 items, no-op worker", lambda q: measure_map(100, q)),
    "concurrent_1000": (
        "1,000 concurrent runs of 3 steps sleeping 10 ms",
        lambda q: measure_concurrent(1000, q),
    ),
}


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}"


def emit(line):
    print(json.dumps(line), flush=True)


async def main(args):
    quick = "--quick" in args
    wanted = [a for a in args if not a.startswith("--")] or list(SHAPES)
    unknown = [w for w in wanted if w not in SHAPES]
    if unknown:
        sys.exit(f"unknown shape {', '.join(unknown)}; known: {', '.join(SHAPES)}")
    emit(
        {
            "side": "langgraph",
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "langgraph": metadata.version("langgraph"),
            "langchain-core": metadata.version("langchain-core"),
            "event_loop": type(asyncio.get_running_loop()).__name__,
            "machine": machine(),
        }
    )
    for shape in wanted:
        description, measure = SHAPES[shape]
        print(f"langgraph: measuring {shape} …", file=sys.stderr, flush=True)
        for api, seconds, reps in await measure(quick):
            emit(
                {
                    "side": "langgraph",
                    "shape": shape,
                    "description": description,
                    "api": api,
                    "median_s": seconds,
                    "reps": reps,
                }
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
