"""Clustering master records into customers: union–find with cannot-link constraints.

Deterministic edges (same valid USCC, same registration/VAT number, a steward's "match") are
unioned first, unconditionally. Probabilistic edges above the link threshold are then applied
strongest first, and an edge is refused when the two clusters it would join carry conflicting
identities — two different valid USCCs, VAT or registration numbers of one kind, two bureau
subjects, or a steward's "no match" between any of their members. Refused and grey-zone edges go
to the stewards' review queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


class Clusters:
    def __init__(self, ids: Iterable[str]):
        self.parent: dict[str, str] = {i: i for i in ids}
        self.members: dict[str, set[str]] = {i: {i} for i in self.parent}
        self.identity: dict[str, dict[str, set[str]]] = {i: defaultdict(set) for i in self.parent}
        self.cannot: dict[str, set[str]] = defaultdict(set)  # record -> records it must not join

    def add_identity(self, record: str, kind: str, value: str | None) -> None:
        if value:
            self.identity[self.find(record)][kind].add(value)

    def add_cannot_link(self, a: str, b: str) -> None:
        if a in self.parent and b in self.parent:
            self.cannot[a].add(b)
            self.cannot[b].add(a)

    def find(self, item: str) -> str:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def conflict(self, a: str, b: str) -> str | None:
        """Why the clusters of a and b must not be joined, or None."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        ia, ib = self.identity[ra], self.identity[rb]
        for kind in set(ia) & set(ib):
            if ia[kind] and ib[kind] and not (ia[kind] & ib[kind]):
                return f"different {kind}"
        small, large = (ra, rb) if len(self.members[ra]) <= len(self.members[rb]) else (rb, ra)
        large_members = self.members[large]
        for member in self.members[small]:
            if self.cannot.get(member, set()) & large_members:
                return "steward decided no match"
        return None

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        for kind, values in self.identity.pop(rb).items():
            self.identity[ra][kind] |= values
        return True

    def groups(self) -> dict[str, set[str]]:
        return {root: set(members) for root, members in self.members.items()}
