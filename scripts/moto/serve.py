"""moto_server, with conditional writes made atomic as AWS makes them.

moto (5.2.5) checks a write's condition (S3 `If-None-Match: *` and `If-Match`, a DynamoDB
ConditionExpression) and then writes, in separate steps and without a lock, on a threaded
server: two concurrent writers can both pass the check. AWS decides each conditional write
atomically, and slipway's state lock relies on it (exactly one of many concurrent lockers
wins). This keeps the emulator to that contract by running those writes one at a time; nothing
else changes. (One CI run on a loaded machine failed the sixteen-concurrent-applies lock test in
a way this race explains: a run found its lock replaced while writing.)

scripts/install-moto installs this beside moto_server (as `slipway-moto-server`); every moto
the tests, the demo and the benchmarks start is this one.
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.s3.responses import S3Response
from moto.server import main

_writes = threading.RLock()


def _one_at_a_time(f):
    @functools.wraps(f)
    def serialized(*args, **kwargs):
        with _writes:
            return f(*args, **kwargs)

    return serialized


for cls, names in (
    (S3Response, ("put_object", "delete_object")),
    (DynamoDBBackend, ("put_item", "update_item", "delete_item")),
):
    for name in names:
        setattr(cls, name, _one_at_a_time(getattr(cls, name)))

if __name__ == "__main__":
    sys.exit(main())
