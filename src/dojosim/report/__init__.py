"""What the user sees: tables, JSON documents and (later) the HTML report."""
