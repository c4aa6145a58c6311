"""AWS lookups (boto3). Optional: the operator works on any cluster without them."""
