"""Writes assets/g1.xml: the psi0 MJCF of the Unitree G1 (29 DoF) with two Dex3-1 hands.

The model is written here, from published numbers, not converted from meshes:
joint origins, axes, limits, peak torques, link masses and centres of mass come
from Unitree's g1_29dof_rev_1_0 robot description (unitree_ros, the Dex3-1
numbers from its with-hand variant); inertias are the diagonals of the
published tensors; geometry is simple primitives sized to the links (see
docs/sim.md). Left and right are generated from one table by mirroring y, so
the two sides cannot drift apart.

Run `python -m psi0_sim.model_gen` after editing; a test checks that the
committed g1.xml is what this module writes.
"""
from __future__ import annotations

from pathlib import Path

from psi0_common import g1

ASSET_DIR = Path(__file__).resolve().parent / "assets"
G1_XML = ASSET_DIR / "g1.xml"

# Peak torques of the Dex3-1 motors (N m): thumb 0 is the larger motor.
DEX3_TORQUES = (2.45, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4)

_SIGN = {"left": 1.0, "right": -1.0}


def _v(*xs: float) -> str:
    return " ".join(f"{x:.6g}" for x in xs)


def _m(side: str, x: float, y: float, z: float) -> str:
    """A position on the left side, mirrored for the right."""
    return _v(x, _SIGN[side] * y, z)


def _inertial(pos: str, mass: float, diag: tuple[float, float, float]) -> str:
    return f'<inertial pos="{pos}" mass="{mass:.6g}" diaginertia="{_v(*diag)}"/>'


def _joint(name: str, axis: str, cls: str) -> str:
    j = next((j for j in g1.BODY_JOINTS if j.name == name), None)
    if j is not None:
        lo, hi = j.lower, j.upper
    else:  # Dex3 joint: "left_hand_thumb_0"
        side, _, rest = name.partition("_hand_")
        limits = g1.DEX3_LEFT_LIMITS if side == "left" else g1.DEX3_RIGHT_LIMITS
        lo, hi = limits[g1.DEX3_NAMES.index(rest)]
    return f'<joint name="{name}_joint" axis="{axis}" range="{lo:.6g} {hi:.6g}" class="{cls}"/>'


def _leg(side: str) -> str:
    s = side
    roll_quat = "0.996179 0 -0.0873386 0"
    knee_quat = "0.996179 0 0.0873386 0"
    return f"""
      <body name="{s}_hip_pitch_link" pos="{_m(s, 0, 0.064452, -0.1027)}">
        {_inertial(_m(s, 0.002741, 0.047791, -0.02606), 1.35, (0.001811, 0.0014193, 0.0012812))}
        {_joint(f"{s}_hip_pitch", "0 1 0", "leg")}
        <geom class="visual" type="cylinder" size="0.045 0.03" pos="{_m(s, 0, 0.03, -0.01)}" quat="0.707107 0.707107 0 0"/>
        <body name="{s}_hip_roll_link" pos="{_m(s, 0, 0.052, -0.030465)}" quat="{roll_quat}">
          {_inertial(_m(s, 0.029812, -0.001045, -0.087934), 1.52, (0.0023773, 0.0024123, 0.0016595))}
          {_joint(f"{s}_hip_roll", "1 0 0", "leg")}
          <geom class="leg" type="capsule" size="0.05" fromto="0 0 -0.02 0.025 0 -0.1"/>
          <body name="{s}_hip_yaw_link" pos="0.025001 0 -0.12412">
            {_inertial(_m(s, -0.057709, -0.010981, -0.15078), 1.702, (0.0057774, 0.0076124, 0.003149))}
            {_joint(f"{s}_hip_yaw", "0 0 1", "leg")}
            <geom class="leg" type="capsule" size="0.055" fromto="{_m(s, -0.01, 0, -0.03)} {_m(s, -0.07, 0.002, -0.16)}"/>
            <body name="{s}_knee_link" pos="{_m(s, -0.078273, 0.0021489, -0.17734)}" quat="{knee_quat}">
              {_inertial(_m(s, 0.005457, 0.003964, -0.12074), 1.932, (0.011329, 0.011277, 0.0015168))}
              {_joint(f"{s}_knee", "0 1 0", "leg")}
              <geom class="leg" type="capsule" size="0.04" fromto="0 0 -0.03 0 0 -0.26"/>
              <body name="{s}_ankle_pitch_link" pos="{_m(s, 0, -9.4445e-05, -0.30001)}">
                {_inertial("-0.007269 0 0.011137", 0.074, (8.4e-06, 1.89e-05, 1.26e-05))}
                {_joint(f"{s}_ankle_pitch", "0 1 0", "ankle")}
                <body name="{s}_ankle_roll_link" pos="0 0 -0.017558">
                  {_inertial("0.026505 0 -0.016425", 0.608, (0.0002231, 0.0016161, 0.0016667))}
                  {_joint(f"{s}_ankle_roll", "1 0 0", "ankle")}
                  <geom name="{s}_foot" class="foot" type="box" size="0.09 0.035 0.0125" pos="0.035 0 -0.0225"/>
                  <site name="{s}_sole" pos="0.035 0 -0.035" size="0.01"/>
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>"""


def _finger(side: str, name: str, pos: tuple[float, float, float], inertial0: str, inertial1: str) -> str:
    s = side
    return f"""
                          <body name="{s}_hand_{name}_0_link" pos="{_m(s, *pos)}">
                            {inertial0}
                            {_joint(f"{s}_hand_{name}_0", "0 0 1", "hand")}
                            <geom class="hand" type="capsule" size="0.011" fromto="0.008 0 0 0.04 0 0"/>
                            <body name="{s}_hand_{name}_1_link" pos="0.0458 0 0">
                              {inertial1}
                              {_joint(f"{s}_hand_{name}_1", "0 0 1", "hand")}
                              <geom class="hand" type="capsule" size="0.01" fromto="0.006 0 0 0.042 0 0"/>
                              <site name="{s}_hand_{name}_tip" pos="0.052 0 0" size="0.006"/>
                            </body>
                          </body>"""


def _hand(side: str) -> str:
    s = side
    link0 = _inertial(_m(s, 0.0354744, 0.000827888, 0.0003809), 0.0588507, (1.28514e-05, 1.22902e-05, 5.9666e-06))
    link1 = _inertial(_m(s, 0.0262819, 0.00171735, -0.000107789), 0.0203063, (4.61314e-06, 3.86645e-06, 1.53495e-06))
    return f"""
                          <geom name="{s}_palm_geom" class="hand" type="box" size="0.038 0.017 0.045" pos="{_m(s, 0.083, 0.003, 0)}"/>
                          <site name="{s}_palm" pos="0.05 0 0" size="0.01" rgba="0 1 0 0.5"/>
                          <body name="{s}_hand_thumb_0_link" pos="{_m(s, 0.067, 0.003, 0)}">
                            {_inertial(_m(s, -0.000884246, -0.00863407, 0.000944293), 0.0862366, (1.6546e-05, 1.60058e-05, 1.43741e-05))}
                            {_joint(f"{s}_hand_thumb_0", "0 1 0", "hand")}
                            <body name="{s}_hand_thumb_1_link" pos="{_m(s, -0.0025, -0.0193, 0)}">
                              {_inertial(_m(s, -0.000827888, -0.0354744, -0.0003809), 0.0588507, (1.28514e-05, 1.22902e-05, 5.9666e-06))}
                              {_joint(f"{s}_hand_thumb_1", "0 0 1", "hand")}
                              <geom class="hand" type="capsule" size="0.011" fromto="{_m(s, 0, -0.008, 0)} {_m(s, 0, -0.04, 0)}"/>
                              <body name="{s}_hand_thumb_2_link" pos="{_m(s, 0, -0.0458, 0)}">
                                {_inertial(_m(s, -0.00171735, -0.0262819, 0.000107789), 0.0203063, (4.61314e-06, 3.86645e-06, 1.53495e-06))}
                                {_joint(f"{s}_hand_thumb_2", "0 0 1", "hand")}
                                <geom class="hand" type="capsule" size="0.01" fromto="{_m(s, 0, -0.006, 0)} {_m(s, 0, -0.042, 0)}"/>
                                <site name="{s}_hand_thumb_tip" pos="{_m(s, 0, -0.052, 0)}" size="0.006"/>
                              </body>
                            </body>
                          </body>""" + _finger(s, "middle", (0.1192, 0.0046, -0.0285), link0, link1) \
        + _finger(s, "index", (0.1192, 0.0046, 0.0285), link0, link1)


def _arm(side: str) -> str:
    s = side
    sgn = _SIGN[s]
    pitch_quat = _v(0.990264, sgn * 0.139201, 0, 0)
    roll_quat = _v(0.990268, -sgn * 0.139172, 0, 0)
    return f"""
            <body name="{s}_shoulder_pitch_link" pos="{_m(s, 0.0039563, 0.10022, 0.24778)}" quat="{pitch_quat}">
              {_inertial(_m(s, 0, 0.035892, -0.011628), 0.718, (0.0004291, 0.000453, 0.000423))}
              {_joint(f"{s}_shoulder_pitch", "0 1 0", "arm")}
              <geom class="visual" type="cylinder" size="0.03 0.025" pos="{_m(s, 0, 0.04, -0.01)}" quat="0.707107 0.707107 0 0"/>
              <body name="{s}_shoulder_roll_link" pos="{_m(s, 0, 0.038, -0.013831)}" quat="{roll_quat}">
                {_inertial(_m(s, -0.000227, 0.00727, -0.063243), 0.643, (0.0006177, 0.0006912, 0.0003894))}
                {_joint(f"{s}_shoulder_roll", "1 0 0", "arm")}
                <geom class="visual" type="capsule" size="0.032" fromto="{_m(s, -0.004, 0.006, -0.03)} {_m(s, -0.004, 0.006, -0.09)}"/>
                <body name="{s}_shoulder_yaw_link" pos="{_m(s, 0, 0.00624, -0.1032)}">
                  {_inertial(_m(s, 0.010773, -0.002949, -0.072009), 0.734, (0.0009988, 0.0010605, 0.0004354))}
                  {_joint(f"{s}_shoulder_yaw", "0 0 1", "arm")}
                  <geom class="visual" type="capsule" size="0.03" fromto="0 0 -0.01 0.012 0 -0.075"/>
                  <body name="{s}_elbow_link" pos="0.015783 0 -0.080518">
                    {_inertial(_m(s, 0.064956, 0.004454, -0.010062), 0.6, (0.0002891, 0.0004152, 0.0004197))}
                    {_joint(f"{s}_elbow", "0 1 0", "arm")}
                    <geom class="limb" type="capsule" size="0.028" fromto="0.01 0 -0.008 0.075 0 -0.01"/>
                    <body name="{s}_wrist_roll_link" pos="{_m(s, 0.1, 0.00188791, -0.01)}">
                      {_inertial(_m(s, 0.0171394, 0.000537591, 4.8864e-07), 0.085445, (4.82154e-05, 3.7229e-05, 5.48211e-05))}
                      {_joint(f"{s}_wrist_roll", "1 0 0", "arm")}
                      <geom class="visual" type="cylinder" size="0.028 0.016" pos="0.018 0 0" quat="0.707107 0 0.707107 0"/>
                      <body name="{s}_wrist_pitch_link" pos="0.038 0 0">
                        {_inertial(_m(s, 0.0229999, -0.00111685, -0.00111658), 0.48405, (0.000165796, 0.000429541, 0.000429537))}
                        {_joint(f"{s}_wrist_pitch", "0 1 0", "wrist")}
                        <geom class="visual" type="capsule" size="0.027" fromto="0.005 0 0 0.04 0 0"/>
                        <body name="{s}_wrist_yaw_link" pos="0.046 0 0">
                          {_inertial(_m(s, 0.0708244, 0.000191745, 0.00161742), 0.254576, (0.000646113, 0.000559993, 0.000147566))}
                          {_joint(f"{s}_wrist_yaw", "0 0 1", "wrist")}
                          <geom class="visual" type="cylinder" size="0.03 0.01" pos="0.035 0 0" quat="0.707107 0 0.707107 0"/>{_hand(s)}
                        </body>
                      </body>
                    </body>
                  </body>
                </body>
              </body>
            </body>"""


def _actuators() -> str:
    rows = [f'    <general class="g1" name="{j.name}" joint="{j.name}_joint" forcerange="{-j.torque:g} {j.torque:g}"/>'
            for j in g1.BODY_JOINTS]
    for side in ("left", "right"):
        for name, torque in zip(g1.DEX3_NAMES, DEX3_TORQUES):
            rows.append(f'    <general class="g1" name="{side}_hand_{name}" joint="{side}_hand_{name}_joint" '
                        f'forcerange="{-torque:g} {torque:g}"/>')
    return "\n".join(rows)


def _exclusions() -> str:
    rows = []
    for s in ("left", "right"):
        for link in ("thumb_1", "thumb_2", "middle_1", "index_1"):
            rows.append(f'    <exclude body1="{s}_wrist_yaw_link" body2="{s}_hand_{link}_link"/>')
    return "\n".join(rows)


def build_g1_xml() -> str:
    return f"""<!-- Generated by psi0_sim.model_gen: edit that module, not this file. -->
<!-- Unitree G1 (29 DoF) + two Dex3-1 hands + head D435i, written for psi0 from the
     published g1_29dof_rev_1_0 description (see docs/sim.md for sources). Motor i of
     /lowcmd drives actuator i; actuators 29-35 / 36-42 are the left / right Dex3 motors. -->
<mujoco model="psi0_g1">
  <compiler angle="radian"/>
  <option timestep="0.002" integrator="implicitfast"/>

  <default>
    <default class="g1">
      <!-- Actuator force = gain * ctrl + b0 + b1 q + b2 qdot; the sim writes the PD terms of
           each motor command into gain/bias every step (ctrl stays 1), so the force limit
           clamps the whole tau + kp (q* - q) + kd (dq* - dq) like the motor driver does. -->
      <general ctrllimited="false" forcelimited="true" gaintype="fixed" biastype="affine"
               gainprm="0" biasprm="0 0 0"/>
      <joint damping="0.05" armature="0.01" frictionloss="0.1"/>
      <geom contype="0" conaffinity="0" group="2" rgba="0.75 0.75 0.78 1"/>
      <default class="leg"><joint armature="0.02"/>
        <geom contype="2" conaffinity="0" group="1" rgba="0.75 0.75 0.78 1"/></default>
      <default class="ankle"><joint armature="0.01"/></default>
      <default class="arm"><joint armature="0.01"/></default>
      <default class="wrist"><joint armature="0.005" frictionloss="0.05"/></default>
      <default class="hand"><joint armature="0.001" damping="0.01" frictionloss="0.005"/>
        <geom contype="1" conaffinity="1" group="1" condim="4" friction="1.2 0.02 0.001"
              solref="0.004 1" rgba="0.25 0.25 0.28 1"/></default>
      <default class="foot"><geom contype="2" conaffinity="0" group="1" friction="1.0 0.01 0.001"
              rgba="0.2 0.2 0.2 1"/></default>
      <default class="limb"><geom contype="1" conaffinity="1" group="1" rgba="0.75 0.75 0.78 1"/></default>
      <default class="visual"><geom contype="0" conaffinity="0" group="2"/></default>
    </default>
  </default>

  <worldbody>
    <body name="pelvis" pos="0 0 0.78" childclass="g1">
      {_inertial("0 0 -0.07605", 3.813, (0.010549, 0.0093089, 0.0079184))}
      <freejoint name="floating_base_joint"/>
      <geom class="visual" type="box" size="0.06 0.09 0.05" pos="0 0 -0.07" rgba="0.2 0.2 0.2 1"/>
      <site name="imu" pos="0.04525 0 -0.08339" size="0.01"/>
{_leg("left")}
{_leg("right")}
      <body name="waist_yaw_link">
        {_inertial("0.003494 0.000233 0.018034", 0.214, (0.00010673, 0.00010422, 0.0001625))}
        {_joint("waist_yaw", "0 0 1", "g1")}
        <body name="waist_roll_link" pos="-0.0039635 0 0.044">
          {_inertial("0 2.3e-05 0", 0.086, (7.079e-06, 6.339e-06, 8.245e-06))}
          {_joint("waist_roll", "1 0 0", "g1")}
          <body name="torso_link">
            {_inertial("0.000931 0.000346 0.15082", 6.78, (0.05905, 0.047014, 0.025652))}
            {_joint("waist_pitch", "0 1 0", "g1")}
            <geom class="visual" type="box" size="0.055 0.1 0.12" pos="0 0 0.17"/>
            <geom class="visual" type="capsule" size="0.04" fromto="0 -0.1 0.27 0 0.1 0.27"/>
            <site name="imu_in_torso" pos="-0.03959 -0.00224 0.14792" size="0.01"/>
            <body name="head_link" pos="0.0039635 0 -0.044">
              {_inertial("0.005267 0.000299 0.449869", 1.036, (0.004085, 0.004185, 0.001808))}
              <geom class="visual" type="box" size="0.05 0.06 0.07" pos="-0.015 0 0.475" rgba="0.2 0.2 0.2 1"/>
              <site name="head" pos="0.005 0 0.475" size="0.01"/>
            </body>
            <body name="d435_link" pos="0.0576235 0.01753 0.42987" quat="0.91496 0 0.403545 0">
              <!-- RealSense D435i colour stream at 640x480: 42.5 deg vertical field of view. -->
              <camera name="head_camera" xyaxes="0 -1 0 0 0 1" fovy="42.5"/>
              <geom class="visual" type="box" size="0.0125 0.045 0.0125" pos="-0.013 0 0" rgba="0.1 0.1 0.1 1"/>
            </body>
{_arm("left")}
{_arm("right")}
          </body>
        </body>
      </body>
    </body>
  </worldbody>

  <contact>
{_exclusions()}
  </contact>

  <actuator>
{_actuators()}
  </actuator>

  <sensor>
    <gyro name="imu_gyro" site="imu"/>
    <accelerometer name="imu_acc" site="imu"/>
    <framequat name="imu_quat" objtype="site" objname="imu"/>
  </sensor>
</mujoco>
"""


def main() -> None:
    G1_XML.write_text(build_g1_xml())
    print(f"wrote {G1_XML}")


if __name__ == "__main__":
    main()
