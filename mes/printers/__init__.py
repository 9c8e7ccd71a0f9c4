"""Sending labels to real printers (issue 19): CUPS/IPP queues and raw TCP 9100 (Zebra)."""
