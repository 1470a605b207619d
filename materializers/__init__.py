"""strangler.materializers: per-service local views of table topics, exactly once.

Where things are:

- ``config``: the ``views:`` section (targets, topics, projection, renames, row filters);
- ``decoding`` / ``schemas``: Kafka record → ``ChangeRecord`` (Confluent wire format, headers
  ``op``/``position``/``position_kind``), writer schemas from the registry;
- ``positions``: source positions as byte strings that sort like the source;
- ``compaction``: a batch compacted by key in log order (truncates included);
- ``tables`` / ``columns`` / ``shapes``: table shapes from key and value schemas, Avro → SQL
  types, schema evolution (add columns, widen; anything else stops the view);
- ``applier``: one batch = one transaction (rows, offsets, positions, dead letters);
- ``target`` / ``sqlite_target`` / ``postgres_target`` / ``statements``: the view databases,
  the per-key position guard as SQL, all identifiers quoted by ``identifiers``;
- ``runner``: the consumer-group loop; ``service``: wiring and signals; ``rebuild``: shadow
  rebuild and atomic swap; ``freshness``: read-your-writes; ``lag``: lag per partition.
"""
