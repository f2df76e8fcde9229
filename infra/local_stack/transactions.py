"""DynamoDB transactions without a copy of every table they touch.

moto's `transact_write_items` backs up each table a transaction names with `copy.deepcopy` (every item,
for every transaction) so it can roll back when a condition fails: with the admission table holding one
item per waiting image, that copy grew with the burst and was the largest share of moto's CPU. While a
stack runs (`lambda_hook.install`), `transact_write_items` instead keeps a copy of the items the
transaction names (the only ones it can write) and restores those when the transaction raises; the
table-wide copy is skipped. Requests are serialised by the hook's DynamoDB lock, as before.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

_SKIP = threading.local()


class CopyWithoutTables:
    """Stands for the `copy` module inside `moto.dynamodb.models`: a `Table` is not copied while a
    transaction of this thread runs (its touched items are, by `transact_write_items`)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_SKIP, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash value, range value, copy of the item or None) of each item the transaction names."""
    saved = []
    for entry in transact_items:
        for operation in entry.values():
            table = backend.tables.get(operation.get("TableName"))
            if table is None:
                continue
            key = operation.get("Key")
            if key is None:
                attributes = operation.get("Item", {})
                names = (table.hash_key_attr, table.range_key_attr)
                key = {name: attributes[name] for name in names if name and name in attributes}
            try:
                hash_value, range_value = backend.get_keys_value(table, key)
                current = table.get_item(hash_value, range_value)
            except Exception:
                continue  # moto rejects this operation before writing anything for it
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    return saved


def _restore(saved: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_value, range_value, before in reversed(saved):
        if before is None:
            table.delete_item(hash_value, range_value)
        elif range_value:
            table.items[hash_value][range_value] = before
        else:
            table.items[hash_value] = before


def transact_write_items(original: Callable[[Any, list[dict[str, Any]]], None]) -> Any:
    """`DynamoDBBackend.transact_write_items` backing up the touched items only."""

    def replacement(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched(self, transact_items)
        _SKIP.active = True
        try:
            original(self, transact_items)
        except BaseException:
            _restore(saved)
            raise
        finally:
            _SKIP.active = False

    return replacement
