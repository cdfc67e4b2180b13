"""The main job, end to end: a small district on one machine (``gridpass demo``) and the fault drills (``gridpass
drill``). Everything runs as it would in the field, as separate processes talking MQTT and HTTP on loopback."""
