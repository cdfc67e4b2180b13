"""Tests of hardware/."""
