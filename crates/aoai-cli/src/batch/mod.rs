//! `aoai batch …`: run a JSONL file at the deployment's quota ceiling
//! (`run`), or hand it to Azure's Batch API (`submit|status|download|cancel`).

use clap::Subcommand;

use crate::Failure;

mod api;
mod run;
mod view;

/// `aoai batch` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BatchCommand {
    /// Run a JSONL file of requests (Azure Batch format) against a deployment at its quota, with a journal for --resume.
    Run(run::RunArgs),
    /// Upload a JSONL file and create an Azure Batch API job (24h completion window).
    Submit(api::SubmitArgs),
    /// Show a Batch API job's status and request counts.
    Status(api::StatusArgs),
    /// Download a finished Batch API job's output (and errors), mapped back by custom_id.
    Download(api::DownloadArgs),
    /// Cancel a Batch API job.
    Cancel(api::CancelArgs),
}

pub(crate) async fn dispatch(command: BatchCommand) -> Result<(), Failure> {
    match command {
        BatchCommand::Run(args) => run::run(args).await,
        BatchCommand::Submit(args) => api::submit(args).await,
        BatchCommand::Status(args) => api::status(args).await,
        BatchCommand::Download(args) => api::download(args).await,
        BatchCommand::Cancel(args) => api::cancel(args).await,
    }
}
