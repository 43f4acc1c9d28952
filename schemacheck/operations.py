"""Migration operations for indexes the model state cannot declare, in a form check_schema can read.

A GIN index SQLite cannot build cannot go in Meta.indexes; a RunPython that creates it is invisible to every tool
that reads migrations. These operations leave the model state alone (the autodetector never sees them), create the
index on the vendors named, and tell check_schema to expect it once the migration is applied.
"""

from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.migrations.operations.base import Operation


class AddIndexOutsideState(Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, index: models.Index, vendors: Sequence[str] = ("postgresql",)) -> None:
        self.model_name = model_name
        self.index = index
        self.vendors = tuple(vendors)

    def deconstruct(self) -> tuple[str, list, dict[str, Any]]:
        kwargs = {"model_name": self.model_name, "index": self.index, "vendors": list(self.vendors)}
        return self.__class__.__qualname__, [], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # outside the model state on purpose

    def applies_to(self, connection: Any) -> bool:
        return connection.vendor in self.vendors

    def _add(self, app_label: str, schema_editor: Any, state: Any) -> None:
        model = state.apps.get_model(app_label, self.model_name)
        if self.applies_to(schema_editor.connection) and self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index)

    def _remove(self, app_label: str, schema_editor: Any, state: Any) -> None:
        model = state.apps.get_model(app_label, self.model_name)
        if self.applies_to(schema_editor.connection) and self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._add(app_label, schema_editor, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._remove(app_label, schema_editor, from_state)

    def describe(self) -> str:
        return f"Create index {self.index.name} on {self.model_name} ({', '.join(self.vendors)} only, outside the model state)"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_{self.index.name.lower()}"


class RemoveIndexOutsideState(AddIndexOutsideState):
    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._remove(app_label, schema_editor, from_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._add(app_label, schema_editor, to_state)

    def describe(self) -> str:
        return f"Drop index {self.index.name} on {self.model_name} ({', '.join(self.vendors)} only, outside the model state)"
