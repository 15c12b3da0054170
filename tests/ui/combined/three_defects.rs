// Every defect of a workflow is reported in one build, each on its own tokens.

orch_runtime::workflow! {
    workflow Publish {
        input { topic: string, urgent: bool }
        worker Writer;
        worker Editor outcomes [approved, rejected];
        start route;

        choice route {
            when input.urgent -> edit;
            else -> draft;
        }
        task draft by Writer { ok -> edit; fail -> faild; }
        task edit by Editor {
            with { topic: input.topic, draft: "Edit this: {{draft.output}}" }
            on approved -> done;
            fail -> failed;
        }
        succeed done output edit.output;
        fail failed;
    }
}

fn main() {}
