//! `aoai tokens count|truncate`.

use aoai_core::tokens::Tokenizer;
use clap::Subcommand;

use crate::{Failure, print, read_input};

/// `aoai tokens` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Count the tokens of a file or standard input.
    Count {
        /// Model whose encoding to use (o200k_base for gpt-4o and newer, cl100k_base for gpt-4 and gpt-35-turbo).
        #[arg(long, short = 'm', default_value = "gpt-4o")]
        model: String,
        /// The file to read, or - for standard input (the default).
        file: Option<String>,
    },
    /// Print the longest prefix of the input that fits in N tokens.
    Truncate {
        /// Token budget.
        #[arg(long)]
        max: usize,
        /// Model whose encoding to use.
        #[arg(long, short = 'm', default_value = "gpt-4o")]
        model: String,
        /// The file to read, or - for standard input (the default).
        file: Option<String>,
    },
}

pub(crate) fn run(command: TokensCommand) -> Result<(), Failure> {
    match command {
        TokensCommand::Count { model, file } => {
            let text = read_input(file.as_deref())?;
            let count = Tokenizer::for_model(&model).count(&text);
            print(&format!("{count}\n"))
        }
        TokensCommand::Truncate { max, model, file } => {
            let text = read_input(file.as_deref())?;
            let tokenizer = Tokenizer::for_model(&model);
            print(tokenizer.truncate(&text, max))
        }
    }
}
