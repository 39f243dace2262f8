"""moto's server, with its DynamoDB requests answered one at a time.

moto 5.2.5 answers a TransactWriteItems by copying every table the transaction touches and, when
the transaction fails (a condition not met, as R1 claims and versioned writes meet by design),
putting those copies back. Its server is threaded: a write another request made between the copy
and the restore is lost. On a loaded machine that lost whole connection updates (a v2 connection
read back as v3 after it was stored as v2; a test's product never synced). DynamoDB does not do
this. One lock around DynamoDB's requests keeps moto's rollback from crossing another request;
SQS (whose long polls wait) and the other services stay concurrent. moto is bound to one core by
Python's lock anyway, so the cost is small.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT (the arguments of `moto_server`).
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_ONE_AT_A_TIME = threading.RLock()
_call_action = DynamoHandler.call_action


def _locked_call_action(self):
    with _ONE_AT_A_TIME:
        return _call_action(self)


DynamoHandler.call_action = _locked_call_action

if __name__ == "__main__":
    sys.exit(main())
