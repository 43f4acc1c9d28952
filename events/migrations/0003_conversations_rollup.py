"""Conversations issue: chunk performance per project, a watermark for the rollup, MessageEvent.updated_at.

ChunkPerformance rows are derived data (the rollup recomputes them from messages and events), so they are
cleared before the project column is added rather than guessed; the next rollup run rebuilds them.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def clear_derived_chunk_performance(apps, schema_editor):
    apps.get_model("events", "ChunkPerformance").objects.all().delete()
    apps.get_model("events", "RollupWatermark").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0002_activity_fulltext_index"),
        ("projects", "0002_api_keys"),
    ]

    operations = [
        migrations.CreateModel(
            name="RollupWatermark",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=64, unique=True)),
                ("processed_until", models.DateTimeField()),
                ("last_run_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("last_run_chunks", models.PositiveIntegerField(default=0, help_text="Chunks recomputed by the last run")),
            ],
        ),
        migrations.RunPython(clear_derived_chunk_performance, migrations.RunPython.noop),
        migrations.AlterModelOptions(
            name="chunkperformance",
            options={"ordering": ["project", "chunk_id"], "verbose_name_plural": "chunk performance"},
        ),
        migrations.AddField(
            model_name="chunkperformance",
            name="project",
            field=models.ForeignKey(
                default=None,
                on_delete=django.db.models.deletion.DB_CASCADE,
                related_name="chunk_performance",
                to="projects.project",
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="chunkperformance",
            name="chunk_id",
            field=models.CharField(max_length=128),
        ),
        migrations.AddConstraint(
            model_name="chunkperformance",
            constraint=models.UniqueConstraint(fields=("project", "chunk_id"), name="chunkperf_one_per_project_chunk"),
        ),
        migrations.AddField(
            model_name="messageevent",
            name="updated_at",
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.AddIndex(
            model_name="messageevent",
            index=models.Index(fields=["updated_at"], name="msgevent_updated"),
        ),
    ]
