"""The exit owns the links from its lines to the data keys they scheduled: DataKey.exit_item becomes ExitItemKey rows
and DestructionCertificate.exit goes (an exit's certificates are its keys' certificates), so that the vault knows
nothing of exits. The links are moved, not dropped, both ways; audit events are not touched."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def links_to_the_exit(apps, schema_editor):
    DataKey = apps.get_model("governance", "DataKey")
    DestructionCertificate = apps.get_model("governance", "DestructionCertificate")
    ExitItemKey = apps.get_model("governance", "ExitItemKey")
    linked = DataKey.objects.filter(exit_item__isnull=False).order_by("pk").values_list("pk", "exit_item_id")
    ExitItemKey.objects.bulk_create(
        (ExitItemKey(data_key_id=key_id, item_id=item_id) for key_id, item_id in linked.iterator()), batch_size=1000
    )
    # A certificate's exit is found through its key's line from now on: one naming another exit (or a key with no
    # line) would lose its exit, so the migration stops rather than forget it.
    certificates = DestructionCertificate.objects.filter(exit__isnull=False)
    stray = [
        number
        for number, exit_id, through_key in certificates.values_list(
            "number", "exit_id", "data_key__exit_item__exit_id"
        )
        if exit_id != through_key
    ]
    if stray:
        raise RuntimeError(
            f"Certificates {', '.join(stray)} name an exit that is not their key's exit line's: "
            "set their keys' exit_item before migrating, or their exit would be lost."
        )


def links_to_the_vault(apps, schema_editor):
    DataKey = apps.get_model("governance", "DataKey")
    DestructionCertificate = apps.get_model("governance", "DestructionCertificate")
    ExitItemKey = apps.get_model("governance", "ExitItemKey")
    DataKey.objects.filter(pk__in=ExitItemKey.objects.values("data_key_id")).update(
        exit_item_id=Subquery(ExitItemKey.objects.filter(data_key_id=OuterRef("pk")).values("item_id")[:1])
    )
    DestructionCertificate.objects.filter(data_key_id__in=ExitItemKey.objects.values("data_key_id")).update(
        exit_id=Subquery(ExitItemKey.objects.filter(data_key_id=OuterRef("data_key_id")).values("item__exit_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0018_review_close"),
    ]

    operations = [
        migrations.CreateModel(
            name="ExitItemKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "data_key",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="governance.datakey"
                    ),
                ),
                (
                    "item",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="key_links", to="governance.exititem"
                    ),
                ),
            ],
            options={
                "ordering": ["item", "data_key"],
            },
        ),
        migrations.AddConstraint(
            model_name="exititemkey",
            constraint=models.UniqueConstraint(fields=("data_key",), name="one_exit_item_per_data_key"),
        ),
        migrations.RunPython(links_to_the_exit, links_to_the_vault),
        migrations.RemoveField(
            model_name="datakey",
            name="exit_item",
        ),
        migrations.RemoveField(
            model_name="destructioncertificate",
            name="exit",
        ),
        # Last: until DataKey.exit_item is gone, its reverse accessor is ExitItem.keys.
        migrations.AddField(
            model_name="exititem",
            name="keys",
            field=models.ManyToManyField(
                help_text="The data keys whose destruction the line scheduled.",
                related_name="exit_items",
                through="governance.ExitItemKey",
                to="governance.datakey",
            ),
        ),
    ]
