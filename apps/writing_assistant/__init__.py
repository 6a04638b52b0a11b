"""The writing assistant: drafts of a set length (outline first), rewrite, translate, checks with accept/reject."""
