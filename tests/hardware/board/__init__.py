"""Host tests of the RP2040 signal board firmware (hardware/board), with fake machine objects."""
