"""The price model: every price component a provider charges (vocabulary), what parsers fill
for each entry (sheet), their history as validity intervals (history, storage), the merged
components of a catalog offering (merge) and the exact cost of a request (calculator).

Importing this package loads no storage: the sources import its vocabulary and sheet.
"""
