"""``spinerad models list|show --server``: what a running server says through ListModels / GetModelCard."""

import json

from spinerad.cli import main


def test_models_list_from_server_equals_list_models(server, client, capsys):
    assert main(["models", "list", "--server", server.target, "--timeout", "30"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing == client.list_models()
    assert {m["task"] for m in listing["models"]} == set(server.engine.registry.tasks)


def test_models_show_from_server_equals_the_card(server, client, capsys):
    assert main(["models", "show", "egfr_mutation", "--server", server.target]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card == client.model_card("egfr_mutation")
    assert card["task"] == "egfr_mutation"


def test_models_show_unknown_task_from_server(server, capsys):
    code = main(["models", "show", "nope", "--server", server.target])
    out, err = capsys.readouterr()
    assert code != 0 and out == ""
    assert err.startswith("spinerad: error: ") and err.count("\n") == 1
