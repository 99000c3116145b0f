from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('stresstests', '0002_run_enqueued_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='stresstestrun',
            name='checks',
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
