"""How good an analysis is: metrics, the skill benchmark (runner and report), the demo, figures."""
