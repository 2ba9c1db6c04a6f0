"""The clinic alert lifecycle: raised, acknowledged, escalated, cleared; routed from the roster."""
