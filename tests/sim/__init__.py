"""Tests of the Bybit V5 simulator (service/bybit_sim), against a real subprocess."""
