"""Send track and screen calls through segment-analytics-python (gzip on) to a serve
instance, and write the messageIds of the batches acknowledged with a 2xx status to a
JSON file.

Usage: python3 send_python.py HOST WRITE_KEY COUNT PREFIX OUTPUT_FILE
"""
import json
import sys

import segment.analytics.consumer as consumer
from segment.analytics import Client

host, write_key, count, prefix, output = sys.argv[1:6]
acknowledged = []
send_batch = consumer.post


def recording_post(*args, **kwargs):
    """Call the SDK's own post; it raises unless the status is 2xx."""
    response = send_batch(*args, **kwargs)
    acknowledged.extend(event["messageId"] for event in kwargs["batch"])
    return response


consumer.post = recording_post

client = Client(
    write_key=write_key,
    host=host,
    gzip=True,
    upload_size=20,
    upload_interval=0.2,
    max_retries=20,
    on_error=lambda err, batch: print(f"analytics-python: {err}", file=sys.stderr),
)
for i in range(int(count)):
    user_id = f"{prefix}-user-{i % 10}"
    message_id = f"{prefix}-{i}"
    if i % 5 == 4:
        client.screen(user_id, "iOS", "Home", {"build": i}, message_id=message_id)
    else:
        client.track(user_id, "Seat Added", {"count": i}, message_id=message_id)
client.flush()
client.join()

with open(output, "w", encoding="utf-8") as file:
    json.dump(acknowledged, file)
print(f"analytics-python: {len(acknowledged)} of {count} events acknowledged")
