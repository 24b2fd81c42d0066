"""Camera node core: transforms, intrinsics, encodings, config checks, bag and RealSense sources."""
import numpy as np
import pytest

from psi0_common.config import ConfigError, from_mapping
from psi0_policy.camera.config import CameraConfig
from psi0_policy.camera.sources import BagPlayer, BagSource, CameraError, RealSenseSource
from psi0_policy.camera.transform import ImageError, ImageTransform, Intrinsics, to_rgb


def gradient(h=480, w=640):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 7)], -1).astype(np.uint8)


def test_resize_to_policy_input_and_scaled_intrinsics():
    t = ImageTransform(320, 240, "resize")
    out = t.apply(gradient())
    assert out.shape == (240, 320, 3) and out.dtype == np.uint8
    assert abs(int(out[0, -1, 0]) - 255) <= 2 and abs(int(out[-1, 0, 1]) - 255) <= 2
    k = t.intrinsics(Intrinsics(640, 480, (600.0, 0, 320.0, 0, 600.0, 240.0, 0, 0, 1)))
    assert (k.width, k.height) == (320, 240)
    np.testing.assert_allclose(k.k, (300.0, 0, 160.0, 0, 300.0, 120.0, 0, 0, 1))


def test_crop_resize_keeps_the_aspect_ratio():
    t = ImageTransform(240, 240, "crop_resize")
    assert t.region(640, 480) == (80, 0, 480, 480)
    out = t.apply(gradient())
    assert out.shape == (240, 240, 3)
    # The centre crop starts at column 80: its left edge is not the source's left edge.
    assert out[0, 0, 0] > 20
    k = t.intrinsics(Intrinsics(640, 480, (600.0, 0, 320.0, 0, 600.0, 240.0, 0, 0, 1)))
    np.testing.assert_allclose(k.k, (300.0, 0, 120.0, 0, 300.0, 120.0, 0, 0, 1))


def test_explicit_crop_and_pass_through():
    img = gradient()
    t = ImageTransform(320, 240, "none", crop=[100, 50, 200, 100])
    out = t.apply(img)
    np.testing.assert_array_equal(out, img[50:150, 100:300])
    with pytest.raises(ImageError, match="outside"):
        ImageTransform(320, 240, "resize", crop=[600, 0, 100, 100]).apply(img)


def test_encodings():
    rgb = gradient(4, 6)
    bgr = rgb[:, :, ::-1].copy()
    np.testing.assert_array_equal(to_rgb(bgr.tobytes(), 6, 4, "bgr8"), rgb)
    padded = np.zeros((4, 20), np.uint8)               # step 20 > 6 * 3
    padded[:, :18] = rgb.reshape(4, 18)
    np.testing.assert_array_equal(to_rgb(padded.tobytes(), 6, 4, "rgb8", 20), rgb)
    with pytest.raises(ImageError, match="encoding"):
        to_rgb(b"\0" * 24, 6, 4, "mono8")
    with pytest.raises(ImageError, match="does not hold"):
        to_rgb(b"\0" * 10, 6, 4, "rgb8")


def test_config_validation():
    assert CameraConfig().output_height == 240 and CameraConfig().output_width == 320
    with pytest.raises(ConfigError, match="crop"):
        CameraConfig(crop=[0, 0, 10])
    with pytest.raises(ConfigError, match="bag_path"):
        CameraConfig(source="bag")
    with pytest.raises(ConfigError, match="did you mean"):
        from_mapping(CameraConfig, {"sorce": "sim"})


def test_realsense_without_a_device_names_it():
    with pytest.raises(CameraError, match="RealSense with serial 123456789") as info:
        RealSenseSource(serial="123456789")
    assert "realsense source" in str(info.value)


def _write_bag(path, storage, n=5, period_ns=50_000_000, encoding="bgr8"):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Image = ts.types["sensor_msgs/msg/Image"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}[storage]
    t0 = 1_700_000_000_000_000_000
    frames = []
    with Writer(path, version=9, storage_plugin=plugin) as w:
        conn = w.add_connection("/camera/color/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        for i in range(n):
            rgb = np.full((8, 10, 3), (i * 10, 100, 200), np.uint8)
            data = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
            stamp = t0 + i * period_ns
            msg = Image(header=Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="cam"),
                        height=8, width=10, encoding=encoding, is_bigendian=0, step=30,
                        data=np.ascontiguousarray(data).reshape(-1))
            w.write(conn, stamp + 1_000_000, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))
            frames.append((stamp, rgb))
    return frames


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_source_reads_images_with_their_stamps(tmp_path, storage):
    expected = _write_bag(tmp_path / "bag", storage)
    src = BagSource(str(tmp_path / "bag"))
    assert src.topic == "/camera/color/image_raw" and src.count == 5
    got = [f for _, f in src.frames()]
    assert [f.stamp_ns for f in got] == [s for s, _ in expected]
    for f, (_, rgb) in zip(got, expected):
        np.testing.assert_array_equal(f.image, rgb)
    src.close()


def test_bag_player_paces_and_restamps(tmp_path):
    _write_bag(tmp_path / "bag", "sqlite3", n=4, period_ns=100_000_000)
    now = {"t": 5_000_000_000}
    slept = []

    def sleep(s):
        slept.append(s)
        now["t"] += int(s * 1e9)
    player = BagPlayer(BagSource(str(tmp_path / "bag")), rate=2.0, restamp=True,
                       clock_ns=lambda: now["t"], sleep=sleep)
    stamps = [f.stamp_ns for f in player.play()]
    assert np.allclose(np.diff(stamps), 50_000_000)      # 100 ms spacing at 2x speed
    assert stamps[0] == 5_000_000_000
    assert sum(slept) == pytest.approx(0.15)


def test_bag_errors(tmp_path):
    with pytest.raises(CameraError, match="does not exist"):
        BagSource(str(tmp_path / "missing"))
    _write_bag(tmp_path / "bag", "sqlite3", n=1)
    with pytest.raises(CameraError, match="not in"):
        BagSource(str(tmp_path / "bag"), topic="/other")
