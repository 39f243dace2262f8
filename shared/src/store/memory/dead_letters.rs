//! The in-memory dead letters, keyed by (account, id) like the table's items.

use super::*;

#[async_trait]
impl DeadLetterStore for MemoryStore {
    async fn put_dead_letter(&self, account: &AccountId, letter: &StoredDeadLetter) -> Result<(), StoreError> {
        self.with(|s| {
            s.dead_letters.insert((account.clone(), letter.id.clone()), letter.clone());
            Ok(())
        })
    }

    async fn dead_letters(&self, account: &AccountId, max: usize) -> Result<Vec<StoredDeadLetter>, StoreError> {
        self.with(|s| {
            let mut mine: Vec<StoredDeadLetter> =
                s.dead_letters.iter().filter(|((a, _), _)| a == account).map(|(_, l)| l.clone()).collect();
            mine.sort_by_key(|l| std::cmp::Reverse(l.last_failed_at));
            mine.truncate(max);
            Ok(mine)
        })
    }

    async fn take_dead_letter(&self, account: &AccountId, id: &str) -> Result<Option<StoredDeadLetter>, StoreError> {
        self.with(|s| Ok(s.dead_letters.remove(&(account.clone(), id.to_owned()))))
    }
}
