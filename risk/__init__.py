"""Declaration risk: WCO-style risk profiles, a learned model, and fusion with evidence from the road."""
