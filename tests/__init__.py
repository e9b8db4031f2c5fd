"""Tests for Bitcoin Analyzer, laid out like the packages they test."""
