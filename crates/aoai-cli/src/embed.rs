//! `aoai embed`.

use aoai_core::embeddings::EmbeddingsRequest;
use clap::Args;

use crate::{Failure, print, session};

/// Options for `aoai embed`.
#[derive(Debug, Args)]
pub(crate) struct EmbedArgs {
    /// Embedding deployment (default: AZURE_OPENAI_DEPLOYMENT).
    #[arg(long, short = 'd', env = "AZURE_OPENAI_DEPLOYMENT")]
    deployment: Option<String>,
    /// Vector size (text-embedding-3 models).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    dimensions: Option<u32>,
    /// The texts; one vector each, in order.
    #[arg(required = true)]
    texts: Vec<String>,
}

pub(crate) async fn run(args: EmbedArgs) -> Result<(), Failure> {
    let session = session(args.deployment.as_deref(), "text-embedding-3-small").await?;
    let deployment = session.deployment(args.deployment, "text-embedding-3-small")?;
    let client = &session.client;
    let mut request = EmbeddingsRequest::new(args.texts);
    if let Some(dimensions) = args.dimensions {
        request = request.dimensions(dimensions);
    }
    let response = client.embeddings(&deployment, &request).await?;
    let vectors: Vec<&[f32]> = response.vectors_in_order();
    let json =
        serde_json::to_string(&vectors).map_err(|error| Failure::Other(format!("cannot print vectors: {error}")))?;
    print(&format!("{json}\n"))
}
