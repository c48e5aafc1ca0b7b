"""What a stream is built from when its task runs, and how it is found by name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from ml_connector_provider.engine.spec import IntegrationSpec
    from ml_connector_provider.engine.stream import Stream
    from ml_connector_provider.engine.types import StreamKey
    from ml_connector_provider.ledger import Ledger

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class StreamContext:
    """Everything an integration needs to build one of its streams for a run.

    :param tenant_id: the tenant.
    :param integration: the integration's declaration.
    :param stream: the stream's name.
    :param connections: Airflow connection id per role.
    :param settings: the tenant's settings, validated by the integration's model.
    :param ledger: the ledger, for look-ups across streams (links written by other streams).
    :param params: the DAG run's params (integration-specific ones such as ``invoice_numbers``).
    """

    tenant_id: str
    integration: IntegrationSpec
    stream: str
    connections: Mapping[str, str]
    settings: BaseModel
    ledger: Ledger
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> StreamKey:
        """The ledger key of this tenant's stream."""
        from ml_connector_provider.engine.types import StreamKey

        return StreamKey(self.tenant_id, self.integration.id, self.stream)

    def settings_as(self, model: type[_M]) -> _M:
        """The tenant's settings, checked to be the integration's model."""
        if not isinstance(self.settings, model):
            raise TypeError(
                f"{self.integration.id}/{self.stream} expects {model.__name__} settings, "
                f"got {type(self.settings).__name__}"
            )
        return self.settings


def stream_class(integration: IntegrationSpec, stream: str) -> type[Stream]:
    """Import the :class:`Stream` subclass the integration's spec names for ``stream``.

    :raises KeyError: the integration has no such stream.
    :raises TypeError: the dotted path names something that is not a stream class.
    """
    from ml_connector_provider.engine.spec import import_object
    from ml_connector_provider.engine.stream import Stream

    path = integration.stream(stream).stream_class
    found = import_object(path)
    if not (isinstance(found, type) and issubclass(found, Stream)):
        raise TypeError(f"{path} (stream {integration.id}/{stream}) is not a Stream subclass")
    return found


def build_stream(ctx: StreamContext) -> Stream:
    """Build the stream ``ctx.stream`` of ``ctx.integration`` for one tenant and run."""
    return stream_class(ctx.integration, ctx.stream).from_context(ctx)
