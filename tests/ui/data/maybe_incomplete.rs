orch_runtime::workflow! {
    workflow Answer {
        input { hard: bool }
        worker Expert;
        worker Writer;
        start route;
        choice route {
            when input.hard -> expert;
            else -> write;
        }
        task expert by Expert { ok -> write; fail -> failed; }
        task write by Writer {
            with { notes: "Start from {{expert.output}}." }
            ok -> done;
            fail -> failed;
        }
        succeed done output write.output;
        fail failed;
    }
}

fn main() {}
