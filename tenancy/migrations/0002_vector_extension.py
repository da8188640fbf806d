from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector, for the similar-deal embeddings; the embedded server and any DATABASE_URL server alike."""

    dependencies = [("tenancy", "0001_initial")]

    operations = [VectorExtension()]
