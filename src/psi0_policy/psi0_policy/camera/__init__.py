"""Camera sources and image transforms of the camera node, without ROS."""
