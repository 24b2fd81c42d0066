"""Child process of test_interfaces_roundtrip: publishes every interface type with seeded contents."""
import sys
import time

import rclpy
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from msgfill import interface_classes, make, topic_for  # noqa: E402

SEED = int(sys.argv[1])
QOS = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.VOLATILE)

rclpy.init()
node = rclpy.create_node("roundtrip_publisher")
pubs = [(node.create_publisher(cls, topic_for(cls), QOS), make(cls, SEED + i)) for i, cls in enumerate(interface_classes())]
print(f"publishing {len(pubs)} types", flush=True)
end = time.monotonic() + float(sys.argv[2])
try:
    while time.monotonic() < end:
        for pub, msg in pubs:
            pub.publish(msg)
        time.sleep(0.1)
finally:
    node.destroy_node()
    rclpy.try_shutdown()
