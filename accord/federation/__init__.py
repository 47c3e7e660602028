"""Federation: Accord nodes (and any TAXII 2.1 server) exchanging intelligence as peers.

`service.py` manages peers (add, list, token, status) and syncs them (pull, deletions, push);
`client.py` is the bounded TAXII 2.1 client it speaks through; `receive.py` stores what a peer
sends, with its producer and audience, for a pull and for a peer's POST alike; `provenance.py`
names producers and recipients the way their own nodes know them.
"""
