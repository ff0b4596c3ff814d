from __future__ import annotations

from django import forms

from accounts.models import Organisation
from charters.models import Asset, AssetVersion


class AssetForm(forms.Form):
    name = forms.CharField(max_length=150)
    kind = forms.ChoiceField(choices=Asset.Kind.choices)
    owner = forms.ModelChoiceField(
        queryset=Organisation.objects.all(), to_field_name="slug", help_text="Usually the host organisation."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class AssetVersionForm(forms.Form):
    label = forms.CharField(max_length=64, help_text="e.g. 1.0.0")
    fingerprint = forms.CharField(max_length=64, min_length=64, help_text="SHA-256 of the artefact (sha256sum).")
    size_bytes = forms.IntegerField(min_value=0, label="Size in bytes")
    classification = forms.ChoiceField(choices=AssetVersion.Classification.choices)
    storage_uri = forms.CharField(max_length=500, label="Storage URI", help_text="e.g. s3://models/atlas-7b/1.0")
