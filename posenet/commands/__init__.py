"""Click commands of the ``posenet`` console group."""
