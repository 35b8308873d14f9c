"""The task graph of a workflow, laid out on the server as a small SVG (issue 14 item 7: the
experiment page drew it with a 2.7 MB script; this is a few hundred bytes per task).

Invariants:
- Pure: a topology (``{"tasks": [{"name", "depends_on", "map_over"}…]}``, from inspection or
  from an imported crate) in, coordinates out; no I/O, no HTML (the template escapes labels).
- Malformed input draws what is well formed: tasks without a string name are dropped, unknown
  or non-string dependencies ignored, a cycle (only possible in a crate) breaks at the task
  reached last, so the layout always terminates.
- Left to right: a task's column is the longest dependency path leading to it; rows keep the
  workflow's task order within a column. Edges are cubic curves from a task's right side to its
  dependent's left side.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Geometry (px). Labels longer than ``MAX_LABEL`` characters are cut with an ellipsis.
NODE_HEIGHT, ROW_GAP, COL_GAP, PAD = 30, 14, 46, 6
CHAR_WIDTH, LABEL_PAD, MIN_WIDTH, MAX_LABEL = 7.2, 18, 60, 40


@dataclass(frozen=True)
class Node:
    name: str
    label: str
    x: float
    y: float
    width: float
    mapped: bool

    @property
    def text_x(self) -> float:
        return self.x + self.width / 2

    @property
    def text_y(self) -> float:
        return self.y + NODE_HEIGHT / 2


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str


@dataclass(frozen=True)
class TaskGraph:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float


def _label(task: dict) -> str:
    name = task["name"] if len(task["name"]) <= MAX_LABEL else task["name"][: MAX_LABEL - 1] + "…"
    return f"{name} ⟮map⟯" if task.get("map_over") else name


def task_graph_layout(topology: dict | None) -> TaskGraph | None:
    """The laid-out graph of ``topology``'s tasks, or None when it has none."""
    tasks = [t for t in ((topology or {}).get("tasks") or []) if isinstance(t, dict) and isinstance(t.get("name"), str)]
    by_name = {t["name"]: t for t in tasks}
    if not by_name:
        return None
    deps = {
        name: [d for d in (t.get("depends_on") if isinstance(t.get("depends_on"), list) else []) if d in by_name]
        for name, t in by_name.items()
    }
    column: dict[str, int] = {}

    def place(name: str, visiting: set[str]) -> int:
        if name in column:
            return column[name]
        visiting.add(name)
        parents = [place(d, visiting) for d in deps[name] if d not in visiting]  # a cycle stops here
        visiting.discard(name)
        column[name] = 1 + max(parents) if parents else 0
        return column[name]

    for name in by_name:
        place(name, set())
    columns: list[list[str]] = [[] for _ in range(max(column.values()) + 1)]
    for name in by_name:  # the workflow's order within a column
        columns[column[name]].append(name)
    labels = {name: _label(t) for name, t in by_name.items()}
    widths = [max(MIN_WIDTH, max(len(labels[n]) for n in col) * CHAR_WIDTH + LABEL_PAD) for col in columns]
    tallest = max(len(col) for col in columns)
    height = tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
    nodes: dict[str, Node] = {}
    x = PAD
    for col, width in zip(columns, widths, strict=True):
        span = len(col) * NODE_HEIGHT + (len(col) - 1) * ROW_GAP
        y = PAD + (height - span) / 2  # centre each column vertically
        for name in col:
            nodes[name] = Node(name=name, label=labels[name], x=x, y=y, width=width,
                               mapped=bool(by_name[name].get("map_over")))  # fmt: skip
            y += NODE_HEIGHT + ROW_GAP
        x += width + COL_GAP
    edges = []
    for name, parents in deps.items():
        for parent in parents:
            a, b = nodes[parent], nodes[name]
            if column[parent] >= column[name]:
                continue  # the edge that closed a cycle: not drawn backwards
            x1, y1, x2, y2 = a.x + a.width, a.text_y, b.x - 3, b.text_y
            bend = (x2 - x1) / 2
            path = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            edges.append(Edge(source=parent, target=name, path=path))
    return TaskGraph(nodes=list(nodes.values()), edges=edges, width=x - COL_GAP + PAD, height=height + 2 * PAD)
