"""Key suffixes of the nodes' ``/diagnostics`` values that a replay reads back (one source for both sides).

A node writes ``<resolved topic><suffix>`` (``tcfd_ros.nodes.diagnostics``); the replay compares what one
stage published with what the next received (``tcfd_ros.replay.losses``) and waits, before the first frame,
until every endpoint has matched its peers (``tcfd_ros.replay.matching``). Plain module: no ROS imports.
"""

PUBLISHED = ": published"                    # messages a publisher sent
MATCHED = ": matched"                        # subscriptions a publisher has matched now
MATCHED_PUBLISHERS = ": matched publishers"  # publishers a subscription has matched now
